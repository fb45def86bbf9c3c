import type { Logger } from '@fermix/core';

/** A graceful stop on Ctrl-C / SIGTERM: the first asks the work to stop, the second quits at once. */
export interface StopSignals {
  /** True once a stop was asked for. */
  readonly stopping: boolean;
  /** Asks for a stop from code (e.g. the sweep that started a run is gone), logging why. */
  stop(why: string): void;
  /** Removes the handlers. */
  release(): void;
}

export function listenForStop(logger: Logger, message: string): StopSignals {
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.warn(message);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get stopping() {
      return stopping;
    },
    stop(why) {
      if (stopping) return;
      stopping = true;
      logger.warn(why);
    },
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
