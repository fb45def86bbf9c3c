import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dataCommand, type DataCommandOptions } from '../src/commands/data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A 2x2 gray PNG (value 200). */
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAADklEQVR4AWO8wsDEwAAABDYA2FAleooAAAAASUVORK5CYII=', 'base64');

/** A temp folder with these files (text or bytes) and fermix.config.yaml. */
function project(config: string, files: Record<string, string | Buffer> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-data-'));
  dirs.push(dir);
  for (const [rel, content] of Object.entries({ ...files, 'fermix.config.yaml': config })) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

/** Runs the command on the project's config, capturing stdout. */
async function run(dir: string, options: Omit<DataCommandOptions, 'config'> = {}) {
  let stdout = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      stdout += chunk.toString();
      done();
    },
  });
  const code = await dataCommand({ config: path.join(dir, 'fermix.config.yaml'), ...options }, out);
  return { code, stdout };
}

/** RAF-DB with one train and one test image per class; `train_00002`'s image is missing. */
function rafdbProject(): string {
  const names = [1, 2, 3, 4, 5, 6, 7].flatMap((c) => [[`train_0000${c}.jpg`, c], [`test_0000${c}.jpg`, c]] as const);
  const files: Record<string, string | Buffer> = { 'raf/EmoLabel/list_patition_label.txt': names.map(([n, c]) => `${n} ${c}`).join('\n') };
  for (const [name] of names) if (name !== 'train_00002.jpg') files[`raf/Image/aligned/${name.replace('.jpg', '_aligned.jpg')}`] = png;
  return project('data:\n  format: rafdb\n  root: raf\n', files);
}

describe('fermix data', () => {
  it('--json: counts per split and class from the labels, and the missing images', async () => {
    const dir = rafdbProject();
    const { code, stdout } = await run(dir, { json: true });
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    const one = { angry: 1, disgust: 1, fear: 1, happy: 1, neutral: 1, sad: 1, surprise: 1 };
    expect(report.splits).toEqual({ train: one, test: one });
    expect(report.classes).toEqual(Object.keys(one));
    expect(report.source).toBe(`rafdb ${path.join(dir, 'raf')}`);
    expect(report.missing.test).toEqual({ count: 0, first: [] });
    expect(report.missing.train).toEqual({ count: 1, first: [{ path: path.join(dir, 'raf/Image/aligned/train_00002_aligned.jpg'), reason: 'file not found' }] });
    expect(report.unreadable).toBeNull();
  });

  it('prints a table, classes down and splits across, then the problems', async () => {
    const { code, stdout } = await run(rafdbProject());
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^class\s+train\s+test$/);
    expect(lines[2]).toMatch(/^angry\s+1\s+1$/);
    expect(lines[9]).toMatch(/^total\s+7\s+7$/);
    expect(lines[10]).toMatch(/^train: 1 of 7 images missing: .*train_00002_aligned\.jpg$/);
  });

  it('--check decodes every image and reports the unreadable ones; without it they go unnoticed', async () => {
    const files: Record<string, string | Buffer> = { 'faces/test/happy/a.png': png, 'faces/test/sad/a.png': png };
    for (const name of ['a', 'b', 'c']) files[`faces/train/happy/${name}.png`] = png;
    files['faces/train/Sadness/a.png'] = png;
    files['faces/train/Sadness/broken.png'] = Buffer.from('not a png');
    const dir = project('data:\n  format: imagefolder\n  root: faces\n', files);

    const quick = await run(dir, { json: true });
    expect(quick.code).toBe(0);
    expect(JSON.parse(quick.stdout).splits).toEqual({ test: { happy: 1, sad: 1 }, train: { happy: 3, sad: 2 } });

    const checked = await run(dir, { json: true, check: true });
    expect(checked.code).toBe(1);
    const report = JSON.parse(checked.stdout);
    expect(report.unreadable.test).toEqual({ count: 0, first: [] });
    expect(report.unreadable.train.count).toBe(1);
    expect(report.unreadable.train.first[0]).toEqual({ path: path.join(dir, 'faces/train/Sadness/broken.png'), reason: expect.stringMatching(/unsupported format/) });

    const table = await run(dir, { check: true });
    expect(table.stdout).toMatch(/train: 1 unreadable images: .*broken\.png \(unsupported format/);
  });

  it('counts sources without an inventory by loading them (synthetic)', async () => {
    const dir = project('data:\n  format: synthetic\n  imageSize: 8\n  trainPerClass: 3\n  testPerClass: 2\n');
    const { code, stdout } = await run(dir, { json: true });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.values(report.splits.train)).toEqual(new Array(7).fill(3));
    expect(Object.values(report.splits.test)).toEqual(new Array(7).fill(2));
    expect(report.unreadable.train.count).toBe(0);
  });

  it('stops on a config without data.root for a dataset format, naming the key', async () => {
    const dir = project('data:\n  format: fer2013-csv\n');
    await expect(run(dir)).rejects.toThrow(/data\.root.*the FER2013 CSV file \(required for format fer2013-csv\)/);
  });

  const SAMPLE = path.resolve(here, '../../../../shared/data/fer2013-format-sample.csv');
  it.skipIf(!existsSync(SAMPLE))(`FER2013 CSV: train, val and test from Usage (${SAMPLE})`, async () => {
    const dir = project('');
    // root is relative to the config file's folder
    writeFileSync(path.join(dir, 'fermix.config.yaml'), `data:\n  format: fer2013-csv\n  root: ${JSON.stringify(path.relative(dir, SAMPLE))}\n`);
    const { code, stdout } = await run(dir, { json: true, check: true });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report.splits)).toEqual(['train', 'val', 'test']);
    expect(Object.values(report.splits.train)).toEqual(new Array(7).fill(10));
    expect(Object.values(report.splits.val)).toEqual(new Array(7).fill(5));
    expect(report.unreadable.test.count).toBe(0);
  });
});
