export { startJobs, type Job, type JobsOptions, type RunningJobs } from './scheduler.ts';
