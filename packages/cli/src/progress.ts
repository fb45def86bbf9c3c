import type { Logger, ProgressEvent } from '@fermix/core';
import type { DownloadProgress } from '@fermix/weights';
import { createConsoleLogger } from '@fermix/core';

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** One line describing where training is. */
export function formatProgress(e: ProgressEvent, width = 20): string {
  const filled = Math.round((e.step / e.steps) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  return `epoch ${e.epoch + 1}/${e.epochs} [${bar}] ${e.step}/${e.steps} loss ${Number.isFinite(e.loss) ? e.loss.toFixed(4) : '-'} ${e.imagesPerSecond.toFixed(0)} img/s ETA ${duration(e.etaSeconds)}`;
}

/** One line describing a download (weights: imagenet). */
export function formatDownload(p: DownloadProgress, width = 20): string {
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  if (!p.total) return `downloading ${p.file} ${mb(p.received)} MB`;
  const filled = Math.round((p.received / p.total) * width);
  return `downloading ${p.file} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${mb(p.received)}/${mb(p.total)} MB`;
}

export interface Reporter {
  logger: Logger;
  onProgress(event: ProgressEvent): void;
  /** A download's progress: a bar on a terminal, nothing otherwise (the log says when it starts and ends). */
  onDownload(progress: DownloadProgress): void;
  done(): void;
}

/**
 * On a terminal, a progress bar redrawn in place, with log lines printed above it. Without one
 * (CI, a pipe, a file), plain log lines only, plus a progress line every quarter of an epoch.
 */
export function createReporter(stream: NodeJS.WriteStream = process.stderr, options: { tty?: boolean } = {}): Reporter {
  const tty = options.tty ?? (Boolean(stream.isTTY) && !process.env.CI);
  const base = createConsoleLogger({ stream });
  if (!tty) {
    let lastQuarter = -1;
    return {
      logger: base,
      onProgress(e) {
        const quarter = Math.floor((e.step / e.steps) * 4);
        if (quarter !== lastQuarter && quarter > 0 && quarter < 4) stream.write(`[fermix] ${formatProgress(e)}\n`);
        lastQuarter = e.step === e.steps ? -1 : quarter;
      },
      onDownload() {},
      done() {},
    };
  }
  let line = '';
  const clear = () => {
    if (line) stream.write('\r\x1b[2K');
  };
  const redraw = () => {
    if (line) stream.write(line.slice(0, (stream.columns ?? 120) - 1));
  };
  const wrap = (fn: (m: string, f?: Record<string, unknown>) => void) => (m: string, f?: Record<string, unknown>) => {
    clear();
    fn(m, f);
    redraw();
  };
  return {
    logger: { debug: wrap(base.debug), info: wrap(base.info), warn: wrap(base.warn), error: wrap(base.error) },
    onProgress(e) {
      clear();
      line = formatProgress(e);
      redraw();
    },
    onDownload(p) {
      clear();
      line = p.total !== null && p.received >= p.total ? '' : formatDownload(p);
      redraw();
    },
    done() {
      clear();
      line = '';
    },
  };
}
