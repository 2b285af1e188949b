import { InProcessStockEngine } from './in-process-engine.ts';
import { describeStockEngine } from './stock-engine.conformance.ts';

describeStockEngine('in-process', async () => new InProcessStockEngine());
