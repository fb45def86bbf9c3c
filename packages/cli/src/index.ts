export { createProgram } from './program.js';
export { trainCommand, UsageError, type TrainCommandOptions } from './commands/train.js';
export { evalCommand, formatMetrics, type EvalCommandOptions } from './commands/eval.js';
export { createReporter, formatProgress, type Reporter } from './progress.js';
export { openSession, type Session } from './setup.js';
export { builtinPlugins, registerBuiltinPlugins } from './builtins.js';
export { backbonesCommand } from './commands/backbones.js';
export { dataCommand } from './commands/data.js';
export { benchCommand, runBench, formatBenchReport, BENCH_SCHEMA, type BenchReport } from './commands/bench.js';
