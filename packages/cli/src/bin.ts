import { ConfigError, DataError, RunFolderLostError } from '@fermix/core';
import { UsageError } from './commands/train.js';
import { createProgram } from './program.js';

/** Known mistakes print their message alone; anything else prints its stack for a bug report. */
function report(err: unknown): number {
  const e = err as Error;
  if (e instanceof ConfigError || e instanceof UsageError || e instanceof DataError || e?.name === 'ConfigError' || e?.name === 'QueueConnectionError') {
    process.stderr.write(`fermix: ${e.message}\n`);
    return 2;
  }
  if (e instanceof RunFolderLostError) {
    process.stderr.write(`fermix: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`fermix: ${e?.stack ?? String(err)}\n`);
  return 1;
}

// `fermix ... | head`: a closed pipe ends the output, not the program with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = createProgram((code) => {
  code.then(
    (c) => (process.exitCode = c),
    (err) => (process.exitCode = report(err)),
  );
});
program.parseAsync(process.argv).catch((err) => (process.exitCode = report(err)));
