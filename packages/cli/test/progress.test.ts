import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createReporter, formatDownload, formatProgress } from '../src/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 200 });
  return { stream, text: () => chunks.join('') };
}

const event = { epoch: 1, epochs: 10, step: 11, steps: 44, loss: 1.23456, imagesPerSecond: 321.4, etaSeconds: 125 };

describe('progress', () => {
  it('shows epoch, step, loss, images/s and ETA on one line', () => {
    const line = formatProgress(event);
    expect(line).toBe('epoch 2/10 [#####---------------] 11/44 loss 1.2346 321 img/s ETA 2m05s');
  });

  it('shows the loss as - before the epoch\'s first read of it (the trainer reads losses every few steps)', () => {
    expect(formatProgress({ ...event, step: 3, loss: NaN })).toBe('epoch 2/10 [#-------------------] 3/44 loss - 321 img/s ETA 2m05s');
  });

  it('redraws a bar in place on a terminal and prints log lines above it', () => {
    const out = sink(true);
    const r = createReporter(out.stream, { tty: true });
    r.onProgress(event);
    r.logger.info('hello');
    r.onProgress({ ...event, step: 12 });
    r.done();
    expect(out.text()).toContain('\r\x1b[2K');
    expect(out.text()).toContain('[fermix] hello\n');
    expect(out.text()).toContain('12/44');
  });

  it('without a terminal prints plain lines only, a few per epoch', () => {
    const out = sink(false);
    const r = createReporter(out.stream, { tty: false });
    for (let step = 1; step <= 44; step++) r.onProgress({ ...event, step });
    expect(out.text()).not.toContain('\x1b');
    expect(out.text().trim().split('\n')).toHaveLength(3);
  });

  it('draws a download bar on a terminal only, and clears it when the file is complete', () => {
    const mb = 2 ** 20;
    expect(formatDownload({ file: 'resnet50_notop.h5', received: 47 * mb, total: 94 * mb })).toBe('downloading resnet50_notop.h5 [##########----------] 47.0/94.0 MB');
    expect(formatDownload({ file: 'x.h5', received: 3 * mb, total: null })).toBe('downloading x.h5 3.0 MB');
    const tty = sink(true);
    const r = createReporter(tty.stream, { tty: true });
    r.onDownload({ file: 'x.h5', received: mb, total: 4 * mb });
    expect(tty.text()).toContain('downloading x.h5 [#####---------------] 1.0/4.0 MB');
    r.onDownload({ file: 'x.h5', received: 4 * mb, total: 4 * mb });
    r.logger.info('after');
    expect(tty.text().endsWith('[fermix] after\n')).toBe(true);
    const plain = sink(false);
    createReporter(plain.stream, { tty: false }).onDownload({ file: 'x.h5', received: mb, total: 4 * mb });
    expect(plain.text()).toBe('');
  });
});
