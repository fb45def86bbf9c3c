export { checkConnection, parseQueueUrl, redact, CA_ENV, PASSWORD_ENV, QueueConnectionError, type QueueConnection } from './connection.js';
export { jobIdOf, runFiles, runJobProblem, sweepIdOf, type RunJobData } from './jobs.js';
export { DEFAULT_QUEUE, RunQueue, withRedisLock, type EnqueueOptions, type EnqueueResult, type RunJobView } from './queue.js';
export { DEFAULT_MAX_STALLS, startRunWorker, type ActiveRun, type RunWorker, type RunWorkerOptions } from './worker.js';
