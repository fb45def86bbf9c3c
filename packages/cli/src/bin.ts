import { BackendUnavailableError, ConfigError, DataError, DivergenceError, PluginError, RunFolderLostError } from '@fermix/core';
import { UsageError } from './commands/train.js';
import { createProgram } from './program.js';

/**
 * Known mistakes print their message alone; a plugin's failure names the plugin and hook, then
 * shows where in the plugin it happened (for its author); anything else prints its stack for a bug report.
 */
function report(err: unknown): number {
  const e = err as Error;
  if (e instanceof ConfigError || e instanceof UsageError || e instanceof DataError || e?.name === 'ConfigError' || e?.name === 'QueueConnectionError') {
    process.stderr.write(`fermix: ${e.message}\n`);
    return 2;
  }
  // A run that diverged, or a backend that cannot start: the message says what to change.
  if (e instanceof DivergenceError || e instanceof BackendUnavailableError || e?.name === 'DivergenceError' || e?.name === 'BackendUnavailableError') {
    process.stderr.write(`fermix: ${e.message}\n`);
    return 1;
  }
  if (e instanceof PluginError) {
    const where = (e.cause as Error | undefined)?.stack?.split('\n').slice(1, 4).join('\n');
    process.stderr.write(`fermix: ${e.message}\n${where ? `${where}\n` : ''}(a bug in that plugin or in how it is configured; fermix's checkpoints were not touched by it)\n`);
    return 1;
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
