/** Snapshot of the process's error listeners; `restore` removes the ones added since. */
export function processListeners(): { restore: () => void } {
  const uncaught = process.listeners('uncaughtException');
  const rejection = process.listeners('unhandledRejection');
  return {
    restore() {
      for (const l of process.listeners('uncaughtException')) if (!uncaught.includes(l)) process.removeListener('uncaughtException', l);
      for (const l of process.listeners('unhandledRejection')) if (!rejection.includes(l)) process.removeListener('unhandledRejection', l);
    },
  };
}
