import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createMemoryLogger, loadConfig } from '@fermix/core';
import { alignmentTemplate, applyTransform, createImageFolderSource, decodeImage, type FivePoints } from '@fermix/data';
import { faceApiDir } from '@fermix/landmarks';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareCommand, type PrepareCommandOptions, type PrepareDependencies, type PrepareSummary } from '../src/commands/prepare.js';

// jpeg-js is @fermix/data's dependency; the fixture's originals are real JPEGs, as RAF-DB's are.
const jpeg = createRequire(createRequire(import.meta.url).resolve('@fermix/data/package.json'))('jpeg-js') as {
  encode(image: { width: number; height: number; data: Uint8Array }, quality: number): { data: Uint8Array };
};

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const WIDTH = 200;
const HEIGHT = 180;
/** The drawn face's landmarks: the 112 template turned -15°, x1.5, moved into a 200 x 180 photo. */
const FACE: FivePoints = alignmentTemplate(112).map((p) =>
  applyTransform({ a: 1.5 * Math.cos(-0.26), b: 1.5 * Math.sin(-0.26), tx: 5, ty: 25 }, p),
) as FivePoints;

/** A drawn face: skin-coloured disc on grey, dark eyes, nose and mouth corners at FACE. */
function faceJpeg(): Uint8Array {
  const data = Buffer.alloc(WIDTH * HEIGHT * 4, 90);
  const centre = { x: (FACE[0].x + FACE[1].x + FACE[3].x + FACE[4].x) / 4, y: (FACE[0].y + FACE[1].y + FACE[3].y + FACE[4].y) / 4 };
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const i = (y * WIDTH + x) * 4;
      if (Math.hypot(x - centre.x, y - centre.y) < 75) data.set([225, 185, 150], i);
      if (FACE.some((p) => Math.hypot(x - p.x, y - p.y) <= 4.5)) data.set([25, 20, 20], i);
    }
  }
  return jpeg.encode({ width: WIDTH, height: HEIGHT, data }, 95).data;
}

const annotation = (points: FivePoints) => points.map((p) => `${p.x.toFixed(2)}\t${p.y.toFixed(2)}`).join('\n') + '\n0\n2\n1\n';

/**
 * A project: RAF-DB originals with one train and one test image per class (names as RAF-DB's),
 * plus train_00008 (happiness) whose annotation is missing, and fermix.config.yaml.
 */
function rafdbProject(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-prepare-'));
  dirs.push(dir);
  const raf = path.join(dir, 'raf');
  for (const sub of ['EmoLabel', 'Image/original', 'Annotation/manual']) mkdirSync(path.join(raf, sub), { recursive: true });
  const names: [string, number][] = [1, 2, 3, 4, 5, 6, 7].flatMap((c): [string, number][] => [[`train_0000${c}.jpg`, c], [`test_000${c}.jpg`, c]]);
  names.push(['train_00008.jpg', 4]);
  writeFileSync(path.join(raf, 'EmoLabel/list_patition_label.txt'), names.map(([n, c]) => `${n} ${c}`).join('\n'));
  const image = faceJpeg();
  for (const [name] of names) {
    writeFileSync(path.join(raf, 'Image/original', name), image);
    if (name !== 'train_00008.jpg') writeFileSync(path.join(raf, 'Annotation/manual', name.replace('.jpg', '_manu_attri.txt')), annotation(FACE));
  }
  writeFileSync(path.join(dir, 'fermix.config.yaml'), config);
  return dir;
}

async function prepare(dir: string, options: Partial<PrepareCommandOptions> = {}, deps: PrepareDependencies = {}) {
  let stdout = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      stdout += chunk.toString();
      done();
    },
  });
  const logger = createMemoryLogger();
  const code = await prepareCommand({ config: path.join(dir, 'fermix.config.yaml'), out: path.join(dir, 'aligned'), ...options }, { out, logger, ...deps });
  return { code, stdout, logger };
}

const DATASET_CONFIG = 'data:\n  format: rafdb\n  root: raf\n  onMissing: skip\n  align: { landmarks: dataset, size: 100 }\n';

describe('fermix prepare, RAF-DB with its own landmarks', () => {
  it('writes the aligned image folder, prepare.json and a config to train on it', async () => {
    const dir = rafdbProject(DATASET_CONFIG);
    const { code, stdout, logger } = await prepare(dir);
    expect(code).toBe(0);
    const out = path.join(dir, 'aligned');

    // One aligned PNG per image with an annotation, in <split>/<class>/<stem>.png.
    const classes = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];
    for (const split of ['train', 'test']) {
      expect(readdirSync(path.join(out, split)).sort()).toEqual(classes);
      for (const c of classes) expect(readdirSync(path.join(out, split, c))).toHaveLength(1);
    }
    expect(readdirSync(path.join(out, 'train', 'surprise'))).toEqual(['train_00001.png']);
    expect(readdirSync(path.join(out, 'test', 'happy'))).toEqual(['test_0004.png']);

    // The summary: counts, and the image skipped for its missing annotation, by file.
    const summary = JSON.parse(readFileSync(path.join(out, 'prepare.json'), 'utf8')) as PrepareSummary;
    expect(summary.counts).toEqual({ listed: 15, written: 14, failed: 0, skipped: 1 });
    expect(summary.splits.train).toEqual(Object.fromEntries(classes.map((c) => [c, 1])));
    expect(summary.align).toEqual({ landmarks: 'dataset', size: 100 });
    expect(summary.skipped).toEqual([
      { split: 'train', path: path.join(dir, 'raf/Annotation/manual/train_00008_manu_attri.txt'), reason: 'landmark annotation not found (for train_00008.jpg)' },
    ]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('Annotation/manual/train_00008_manu_attri.txt'))).toBe(true);

    // Each aligned face is 100x100 with its drawn eyes, nose and mouth corners on the template.
    const img = decodeImage(readFileSync(path.join(out, 'train', 'sad', 'train_00005.png')), 'train_00005.png');
    expect([img.width, img.height, img.channels]).toEqual([100, 100, 3]);
    for (const p of alignmentTemplate(100)) expect(img.data[(Math.round(p.y) * 100 + Math.round(p.x)) * 3]).toBeLessThan(80);
    expect(img.data[(50 * 100 + 20) * 3]).toBeGreaterThan(150); // the cheek is skin, not a feature

    // The printed command trains on the copy: its config is an image folder of the aligned faces.
    expect(stdout).toContain('aligned 14 of 15 images (100x100, landmarks from the dataset)');
    expect(stdout).toContain(`fermix train -c ${path.join(out, 'fermix.config.yaml')}`);
    const trainConfig = await loadConfig({ file: path.join(out, 'fermix.config.yaml') });
    expect(trainConfig.data).toMatchObject({ format: 'imagefolder', root: out, imageSize: 100 });
    expect(trainConfig.data.align).toBeUndefined();
    const inventory = await createImageFolderSource({ root: out }).inventory('test');
    expect(inventory.counts).toEqual([1, 1, 1, 1, 1, 1, 1]);
    // No staging folder is left behind.
    expect(readdirSync(dir).sort()).toEqual(['aligned', 'fermix.config.yaml', 'raf']);
  });

  it('lists a decompression bomb among the originals as unreadable (data.maxPixels, from its header) and aligns the rest', async () => {
    const dir = rafdbProject(DATASET_CONFIG.replace('onMissing: skip', 'onMissing: skip\n  maxPixels: 100000'));
    // A real 200x180 JPEG whose start-of-frame now declares 50,000 x 50,000 pixels.
    const bomb = Buffer.from(faceJpeg());
    const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
    bomb.writeUInt16BE(50_000, sof + 5);
    bomb.writeUInt16BE(50_000, sof + 7);
    const file = path.join(dir, 'raf/Image/original/train_00003.jpg');
    writeFileSync(file, bomb);
    const { code, logger } = await prepare(dir);
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(dir, 'aligned', 'prepare.json'), 'utf8')) as PrepareSummary;
    expect(summary.counts).toEqual({ listed: 15, written: 13, failed: 1, skipped: 1 });
    expect(summary.failures).toEqual([
      // Refused from its header in a decode worker; the record names the file, so the reason does not repeat it.
      { split: 'train', path: file, kind: 'unreadable', reason: 'image too large (50000x50000 = 2500000000 pixels exceeds data.maxPixels 100000)' },
    ]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes(file) && l.message.includes('image too large'))).toBe(true);
  });

  it('names a missing annotation and writes nothing with data.onMissing: error', async () => {
    const dir = rafdbProject(DATASET_CONFIG.replace('onMissing: skip', 'onMissing: error'));
    await expect(prepare(dir)).rejects.toThrow(/Annotation\/manual\/train_00008_manu_attri\.txt.*data\.onMissing: skip/);
    expect(readdirSync(dir).sort()).toEqual(['fermix.config.yaml', 'raf']);
  });

  it('never overwrites a non-empty --out without --force, and --force replaces only an earlier prepare output', async () => {
    const dir = rafdbProject(DATASET_CONFIG);
    const out = path.join(dir, 'aligned');
    mkdirSync(out);
    writeFileSync(path.join(out, 'notes.txt'), 'mine');
    await expect(prepare(dir)).rejects.toThrow(/is not empty; fermix prepare does not overwrite it.*--force/);
    await expect(prepare(dir, { force: true })).rejects.toThrow(/holds files fermix prepare did not write \(no prepare\.json\)/);
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(out)).toEqual(['notes.txt']);

    rmSync(out, { recursive: true });
    expect((await prepare(dir)).code).toBe(0);
    await expect(prepare(dir)).rejects.toThrow(/not empty/);
    writeFileSync(path.join(out, 'stale.txt'), 'from the last prepare');
    expect((await prepare(dir, { force: true })).code).toBe(0);
    expect(existsSync(path.join(out, 'stale.txt'))).toBe(false);
    expect(existsSync(path.join(out, 'prepare.json'))).toBe(true);
  });

  it('refuses a config without data.align, and imageSize other than align.size at its YAML line', async () => {
    const dir = rafdbProject('data:\n  format: rafdb\n  root: raf\n');
    await expect(prepare(dir)).rejects.toThrow(/has no data\.align/);
    const bad = rafdbProject('data:\n  format: rafdb\n  root: raf\n  imageSize: 112\n  align: { landmarks: dataset, size: 100 }\n');
    await expect(prepare(bad)).rejects.toThrow(/data\.imageSize \(fermix\.config\.yaml:4:14\): expected 100, the size of the aligned faces/);
  });
});

describe('fermix prepare, landmarks from the model', () => {
  it('tells the user to install @fermix/landmarks when it is absent', async () => {
    const dir = rafdbProject(DATASET_CONFIG.replace('landmarks: dataset', 'landmarks: model'));
    const missing = Object.assign(new Error("Cannot find package '@fermix/landmarks' imported from prepare.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(prepare(dir, {}, { importLandmarks: () => Promise.reject(missing) })).rejects.toThrow(
      /optional package @fermix\/landmarks, which is not installed.*pnpm add @fermix\/landmarks/,
    );
  });

  it('aligns a real photo and reports a picture with no face by file, without stopping', async () => {
    const dir = rafdbProject('backend: wasm\ndata:\n  format: rafdb\n  root: raf\n  align: { landmarks: model, size: 112 }\n');
    const raf = path.join(dir, 'raf');
    // Two train images and one test image: a real face (face-api's demo photo), a grey picture, the face again.
    writeFileSync(path.join(raf, 'EmoLabel/list_patition_label.txt'), 'train_00001.jpg 4\ntrain_00002.jpg 4\ntest_0001.jpg 4\n');
    const photo = path.join(faceApiDir(), 'demo', 'sample2.jpg');
    copyFileSync(photo, path.join(raf, 'Image/original/train_00001.jpg'));
    copyFileSync(photo, path.join(raf, 'Image/original/test_0001.jpg'));
    const grey = Buffer.alloc(160 * 120 * 4, 128);
    writeFileSync(path.join(raf, 'Image/original/train_00002.jpg'), jpeg.encode({ width: 160, height: 120, data: grey }, 90).data);

    const { code, stdout, logger } = await prepare(dir);
    expect(code).toBe(0);
    const out = path.join(dir, 'aligned');
    const summary = JSON.parse(readFileSync(path.join(out, 'prepare.json'), 'utf8')) as PrepareSummary;
    expect(summary.counts).toEqual({ listed: 3, written: 2, failed: 1, skipped: 0 });
    expect(summary.failures).toEqual([{ split: 'train', path: path.join(raf, 'Image/original/train_00002.jpg'), kind: 'no-face', reason: 'no face found by the landmark model' }]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('train_00002.jpg') && l.message.includes('no face found'))).toBe(true);
    expect(stdout).toContain('1 could not be aligned');
    const img = decodeImage(readFileSync(path.join(out, 'train', 'happy', 'train_00001.png')), 'train_00001.png');
    expect([img.width, img.height]).toEqual([112, 112]);
  });
});

/** 68 iBUG points whose five alignment points are FACE: each eye's six points around its centre. */
function points68(face: FivePoints): { x: number; y: number }[] {
  const pts = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
  const ring = (centre: { x: number; y: number }, first: number) => {
    for (let k = 0; k < 6; k++) pts[first + k] = { x: centre.x + 3 * Math.cos((k * Math.PI) / 3), y: centre.y + 3 * Math.sin((k * Math.PI) / 3) };
  };
  ring(face[0], 36);
  ring(face[1], 42);
  pts[30] = face[2];
  pts[48] = face[3];
  pts[54] = face[4];
  return pts;
}

/** AffectNet: the drawn face in Manually_Annotated_Images, rows with its 68 landmarks; one row's landmarks are short. */
function affectnetProject(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-prepare-affectnet-'));
  dirs.push(dir);
  const root = path.join(dir, 'affectnet');
  mkdirSync(path.join(root, 'Manually_Annotated_Images/1'), { recursive: true });
  const landmarks = points68(FACE).flatMap((p) => [p.x.toFixed(2), p.y.toFixed(2)]).join(';');
  const header = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
  // AffectNet codes: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger.
  const rows = (prefix: string) => [0, 1, 2, 3, 4, 5, 6].map((code) => `1/${prefix}${code}.jpg,20,20,150,150,${landmarks},${code},0.1,0.2`);
  const image = faceJpeg();
  for (const name of [...[0, 1, 2, 3, 4, 5, 6].map((c) => `t${c}.jpg`), ...[0, 1, 2, 3, 4, 5, 6].map((c) => `v${c}.jpg`), 'short.jpg']) {
    writeFileSync(path.join(root, 'Manually_Annotated_Images/1', name), image);
  }
  writeFileSync(path.join(root, 'training.csv'), [header, ...rows('t'), `1/short.jpg,20,20,150,150,1;2;3,1,0.1,0.2`].join('\n') + '\n');
  writeFileSync(path.join(root, 'validation.csv'), [header, ...rows('v')].join('\n') + '\n');
  writeFileSync(path.join(dir, 'fermix.config.yaml'), config);
  return dir;
}

describe('fermix prepare, AffectNet with the landmarks of its CSV', () => {
  const config = 'data:\n  format: affectnet\n  root: affectnet\n  testSplit: val\n  onMissing: skip\n  align: { landmarks: dataset, size: 112 }\n';

  it('aligns whole images by the five points of facial_landmarks, and skips a row whose landmarks are unusable, naming its line', async () => {
    const dir = affectnetProject(config);
    const { code } = await prepare(dir);
    expect(code).toBe(0);
    const out = path.join(dir, 'aligned');
    const summary = JSON.parse(readFileSync(path.join(out, 'prepare.json'), 'utf8')) as PrepareSummary;
    expect(summary.counts).toEqual({ listed: 15, written: 14, failed: 0, skipped: 1 });
    expect(summary.skipped[0].path).toBe(path.join(dir, 'affectnet/Manually_Annotated_Images/1/short.jpg'));
    expect(summary.skipped[0].reason).toMatch(/training\.csv:9: facial_landmarks must hold 68 points/);
    expect(readdirSync(path.join(out, 'val')).sort()).toEqual(['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']);
    // The drawn eyes, nose and mouth corners land on the 112 template.
    const img = decodeImage(readFileSync(path.join(out, 'train', 'happy', 't1.png')), 't1.png');
    expect([img.width, img.height]).toEqual([112, 112]);
    for (const p of alignmentTemplate(112)) expect(img.data[(Math.round(p.y) * 112 + Math.round(p.x)) * 3]).toBeLessThan(80);
  });

  it('stops on the row with data.onMissing: error, naming the CSV line', async () => {
    const dir = affectnetProject(config.replace('onMissing: skip', 'onMissing: error'));
    await expect(prepare(dir)).rejects.toThrow(/training\.csv:9: facial_landmarks must hold 68 points \(136 numbers separated by ";"\), found 3 values/);
  });
});

describe('fermix prepare, an image folder with landmarks from the model', () => {
  it('aligns the photos of <root>/<split>/<class>/ and lists a picture with no face by file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-prepare-folder-'));
    dirs.push(dir);
    const photo = path.join(faceApiDir(), 'demo', 'sample2.jpg');
    for (const split of ['train', 'test']) {
      for (const c of ['happy', 'sad']) {
        mkdirSync(path.join(dir, 'photos', split, c), { recursive: true });
        copyFileSync(photo, path.join(dir, 'photos', split, c, 'face.jpg'));
      }
    }
    writeFileSync(path.join(dir, 'photos/train/sad/grey.jpg'), jpeg.encode({ width: 160, height: 120, data: Buffer.alloc(160 * 120 * 4, 128) }, 90).data);
    writeFileSync(path.join(dir, 'fermix.config.yaml'), 'backend: wasm\ndata:\n  format: imagefolder\n  root: photos\n  align: { landmarks: model, size: 100 }\n');
    const { code } = await prepare(dir);
    expect(code).toBe(0);
    const out = path.join(dir, 'aligned');
    const summary = JSON.parse(readFileSync(path.join(out, 'prepare.json'), 'utf8')) as PrepareSummary;
    expect(summary.counts).toEqual({ listed: 5, written: 4, failed: 1, skipped: 0 });
    expect(summary.failures[0]).toMatchObject({ path: path.join(dir, 'photos/train/sad/grey.jpg'), kind: 'no-face' });
    const img = decodeImage(readFileSync(path.join(out, 'test', 'sad', 'face.png')), 'face.png');
    expect([img.width, img.height]).toEqual([100, 100]);
    const trainConfig = await loadConfig({ file: path.join(out, 'fermix.config.yaml') });
    expect(trainConfig.data).toMatchObject({ format: 'imagefolder', root: out, imageSize: 100 });
  });
});
