import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryLogger, encodeRgbPng } from '@fermix/core';
import { afterAll, describe, expect, it } from 'vitest';
import { alignmentTemplate, applyTransform, type FivePoints } from '../src/align.js';
import { alignFiles, alignImageFile, type AlignItem, type AlignOutcome } from '../src/align-files.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fermix-align-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 90 x 80 RGB photo with a face whose landmarks are the 112 template turned by `turn`, scaled 0.7. */
function photo(name: string, turn: number): AlignItem {
  const points = alignmentTemplate(112).map((p) => applyTransform({ a: 0.7 * Math.cos(turn), b: 0.7 * Math.sin(turn), tx: 8, ty: 2 }, p)) as FivePoints;
  const [width, height] = [90, 80];
  const rgb = new Uint8Array(width * height * 3).map((_, i) => (i * 31 + Math.floor(i / 270) * 7) % 256);
  for (const p of points) rgb.fill(10, (Math.round(p.y) * width + Math.round(p.x)) * 3, (Math.round(p.y) * width + Math.round(p.x)) * 3 + 3);
  const file = path.join(dir, `${name}.png`);
  writeFileSync(file, encodeRgbPng(rgb, width, height));
  return { path: file, label: 0, points, landmarksFile: `${name}_manu_attri.txt` };
}

async function collect(outcomes: AsyncIterable<AlignOutcome>): Promise<AlignOutcome[]> {
  const out: AlignOutcome[] = [];
  for await (const o of outcomes) out.push(o);
  return out;
}

describe('alignment with the dataset landmarks, in the decode workers', () => {
  const items = Array.from({ length: 40 }, (_, i) => photo(`face${i}`, (i - 20) / 60));
  const same = photo('same', 0);
  const degenerate: AlignItem = { ...same, points: Array(5).fill({ x: 3, y: 3 }) as FivePoints, landmarksFile: 'degenerate_manu_attri.txt' };
  const unreadable: AlignItem = { path: path.join(dir, 'missing.png'), label: 0, points: same.points };
  const all = [...items.slice(0, 17), degenerate, ...items.slice(17), unreadable];

  it('gives, in order, the bytes alignment on this thread gives, and the same failures', async () => {
    const logger = createMemoryLogger();
    const inWorkers = await collect(alignFiles(all, 100, { workers: 2, logger }));
    expect(logger.lines).toEqual([]); // the workers really ran (no fallback to this thread)
    const here = await Promise.all(all.map((item) => alignImageFile(item, 100)));
    expect(inWorkers).toHaveLength(all.length);
    inWorkers.forEach((outcome, i) => {
      const expected = here[i];
      expect(outcome.ok).toBe(expected.ok);
      if (outcome.ok && expected.ok) {
        expect(Buffer.from(outcome.data).equals(Buffer.from(expected.data)), all[i].path).toBe(true);
        expect(outcome.residual).toBeCloseTo(expected.residual, 9);
      }
    });
    const failures = inWorkers.flatMap((o, i) => (o.ok ? [] : [{ i, kind: o.kind, reason: o.reason }]));
    expect(failures).toEqual([
      { i: 17, kind: 'bad-landmarks', reason: expect.stringMatching(/^cannot align \(landmarks from degenerate_manu_attri\.txt\): similarityTransform: the source points all coincide/) },
      { i: all.length - 1, kind: 'unreadable', reason: expect.stringMatching(/cannot read file/) },
    ]);
    expect(here[17]).toEqual({ ok: false, kind: 'bad-landmarks', reason: failures[0].reason });
    expect(here[all.length - 1]).toMatchObject({ ok: false, kind: 'unreadable' });
  });

  it('stops its workers when the reader leaves early', async () => {
    const seen: AlignOutcome[] = [];
    for await (const outcome of alignFiles(items, 112, { workers: 1 })) {
      seen.push(outcome);
      if (seen.length === 3) break;
    }
    expect(seen.every((o) => o.ok)).toBe(true);
  });
});
