/** A small structured logger. The CLI swaps in one that draws a progress bar on a terminal. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function formatFields(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  const parts = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.length ? ' ' + parts.join(' ') : '';
}

/** Plain log lines to a stream (stderr by default), one per message. */
export function createConsoleLogger(options: { level?: LogLevel; stream?: NodeJS.WritableStream } = {}): Logger {
  const min = order[options.level ?? 'info'];
  const stream = options.stream ?? process.stderr;
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const tag = level === 'info' ? '' : `${level}: `;
    stream.write(`[fermix] ${tag}${message}${formatFields(fields)}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that keeps every line in memory: for tests and for callers who log elsewhere. */
export interface MemoryLogger extends Logger {
  lines: { level: LogLevel; message: string; fields?: Record<string, unknown> }[];
}

export function createMemoryLogger(): MemoryLogger {
  const lines: MemoryLogger['lines'] = [];
  const push = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
