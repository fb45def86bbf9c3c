import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { batchRanges, DataError, identityOrder, silentLogger } from '@fermix/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createCkPlusSource, testSubjects } from '../src/index.js';
import { ckplusTree } from './fixture.js';

const roots: string[] = [];
const tree = (subjects: number) => {
  const root = ckplusTree(subjects);
  roots.push(root);
  return root;
};
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const subjectOf = (file: string) => path.basename(file).slice(0, 4);

describe('the CK+ split by subject', () => {
  it('puts round(fraction x subjects) subjects in test, at least one on each side, the same for the same seed', () => {
    const subjects = Array.from({ length: 10 }, (_, i) => `S${String(i).padStart(3, '0')}`);
    expect(testSubjects(subjects, 0.2, 1).size).toBe(2);
    expect(testSubjects(subjects, 0.01, 1).size).toBe(1);
    expect(testSubjects(subjects, 0.99, 1).size).toBe(9);
    expect([...testSubjects(subjects, 0.3, 7)]).toEqual([...testSubjects([...subjects].reverse(), 0.3, 7)]);
    const draws = new Set(Array.from({ length: 8 }, (_, seed) => [...testSubjects(subjects, 0.3, seed)].sort().join()));
    expect(draws.size).toBeGreaterThan(1);
    expect(() => testSubjects(['S001', 'S001'], 0.5, 1)).toThrow(DataError);
  });

  it('lists train and test with no subject in both, every image once, canonical classes', async () => {
    const root = tree(10);
    const source = createCkPlusSource({ root, testFraction: 0.3, seed: 4 });
    expect(await source.classes()).toEqual(['angry', 'happy', 'sad']);
    const train = await source.files('train', { imageSize: 8, logger: silentLogger });
    const test = await source.files('test', { imageSize: 8, logger: silentLogger });
    const trainSubjects = new Set(train.items.map((i) => subjectOf(i.path)));
    const testSubjectsFound = new Set(test.items.map((i) => subjectOf(i.path)));
    expect(testSubjectsFound.size).toBe(3);
    expect([...testSubjectsFound].filter((s) => trainSubjects.has(s))).toEqual([]);
    expect(train.items.length + test.items.length).toBe(30);
    expect(test.items.length).toBe(9); // 3 subjects x 3 classes
    // Labels follow the folders: anger -> angry (0), happy (1), sadness -> sad (2).
    train.items.forEach((item, i) => expect(['anger', 'happy', 'sadness'][train.labels[i]]).toBe(path.basename(path.dirname(item.path))));
  });

  it('loads a split into memory and streams it as the trainer does, with the same pixels', async () => {
    const source = createCkPlusSource({ root: tree(6), testFraction: 0.5, seed: 1 });
    const set = await source.load('train', { imageSize: 8, logger: silentLogger });
    expect(set.count).toBe(9);
    expect(set.images.length).toBe(9 * 8 * 8 * 3);
    const streamed = await source.open('train', { imageSize: 8, logger: silentLogger, prefetch: 2, budgetBytes: 0 });
    expect(streamed.streamed).toBe(true);
    try {
      const rows: number[] = [];
      for await (const batch of streamed.batches(identityOrder(streamed.count), batchRanges(streamed.count, 3))) {
        batch.indices.forEach((i, b) => {
          const pixels = 8 * 8 * 3;
          expect(Array.from(batch.x.subarray(b * pixels, (b + 1) * pixels), (v) => Math.round(v * 255))).toEqual(Array.from(set.images.subarray(i * pixels, (i + 1) * pixels)));
          rows.push(i);
        });
      }
      expect(rows).toEqual([...identityOrder(9)]);
    } finally {
      await streamed.close?.();
    }
  });

  it('names a PNG whose name carries no subject, and a missing split', async () => {
    const root = tree(3);
    writeFileSync(path.join(root, 'happy', 'face.png'), 'x');
    const source = createCkPlusSource({ root, seed: 1 });
    await expect(source.files('train', { imageSize: 8, logger: silentLogger })).rejects.toThrow(/happy\/face\.png is not named S###_###_\*\.png/);
    await expect(createCkPlusSource({ root: tree(3), seed: 1 }).files('val', { imageSize: 8, logger: silentLogger })).rejects.toThrow(/no split "val"/);
  });
});
