// The scoring worker's entry (scoring-thread.ts starts it): a worker thread does not inherit the
// TypeScript loader its parent was started with, so it registers tsx before loading its module.
import { register } from 'tsx/esm/api';

register();
await import('./scoring-worker.ts');
