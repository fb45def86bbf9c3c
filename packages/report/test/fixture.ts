import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Fake run folders as fermix train / sweep leave them: config.yaml and metrics.json, numbers chosen by hand. */

export const CLASSES = ['angry', 'fear', 'happy'];
/** 4x4 RGB PNGs: red and blue. */
export const RED_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGO4o6EBRwzEcQDzAxLBI9OCRQAAAABJRU5ErkJggg==';
export const BLUE_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGPQsLkDRwzEcQD9AxQBMYRTzAAAAABJRU5ErkJggg==';
/** Every run's confusion matrix (rows = true class). */
export const CONFUSION = [
  [8, 1, 1],
  [2, 6, 2],
  [0, 1, 9],
];

interface Conf {
  mean: number | null;
  median: number | null;
  count: number;
}

interface FakeRun {
  dir: string;
  seed: number;
  plugins: string;
  acc: number;
  f1: number;
  avg: number;
  correct?: Conf;
  wrong?: Conf;
  /** fear's F1 and angry's precision; the other per-class figures are fixed. */
  fearF1?: number;
  angryPrecision?: number;
  backbone?: string;
}

function configYaml(run: Pick<FakeRun, 'seed' | 'plugins' | 'backbone'>): string {
  return `# resolved by fermix from /x/fermix.config.yaml; relative paths were resolved against /x
seed: ${run.seed}
backend: wasm
data:
  format: synthetic
  imageSize: 16
model:
  backbone: ${run.backbone ?? 'small-cnn'}
  options: {}
train:
  epochs: 3
  batchSize: 8
  optimizer:
    name: adam
    lr: 0.001
plugins:${run.plugins}
backbonePackages: []
`;
}

function metricsJson(run: FakeRun) {
  const perClass = {
    angry: { precision: run.angryPrecision ?? 0.8, recall: 0.8, f1: 0.8, support: 10 },
    fear: { precision: 0.6, recall: 0.6, f1: run.fearF1 ?? 0.6, support: 10 },
    happy: { precision: 0.9, recall: 0.9, f1: 0.9, support: 10 },
  };
  const history = [0, 1, 2].map((epoch) => ({
    epoch,
    trainLoss: 1.5 - epoch * 0.4,
    accuracy: run.acc - (2 - epoch) * 0.1,
    macroF1: run.f1 - (2 - epoch) * 0.1,
    averageAccuracy: run.avg - (2 - epoch) * 0.1,
    testLoss: 1.2 - epoch * 0.2,
    seconds: 2,
    imagesPerSecond: 100,
    dataWaitShare: 0.01,
    improved: true,
  }));
  return {
    accuracy: run.acc,
    macroF1: run.f1,
    averageAccuracy: run.avg,
    perClass,
    confusionMatrix: CONFUSION,
    classes: CLASSES,
    count: 30,
    confidence: { correct: run.correct ?? { mean: 0.9, median: 0.95, count: 23 }, wrong: run.wrong ?? { mean: 0.7, median: 0.75, count: 7 } },
    loss: 0.8,
    bestEpoch: 2,
    monitor: 'macroF1',
    epochsRun: 3,
    stoppedEarly: false,
    interrupted: false,
    backend: 'wasm',
    device: 'CPU',
    seconds: 6,
    history,
  };
}

const MIXUP_01 = '\n  - mixup: { alpha: 0.1 }';
const MIXUP_02_DROPOUT = '\n  - mixup:\n      alpha: 0.2\n  - dropout: { rate: 0.5, placement: head }';
/** A bare plugin name (alpha from the plugin's default, 0.1) and a bare `dropout` (rate 0.5). */
const MIXAUGMENT_DEFAULT_DROPOUT = '\n  - mixaugment\n  - dropout';
/** flip first (the README's order) and by its full package name: the method is still mixaugment+flip. */
const FLIP_MIXAUGMENT = "\n  - '@fermix/plugin-flip': { p: 0.5 }\n  - mixaugment: { alpha: 0.1, forward: separate }";

export const RUNS: FakeRun[] = [
  // vanilla: accuracy 80, 82, 84 -> 82.00 ± 2.00; F1 70, 71, 75 -> 72.00 ± 2.65 (sqrt 7); avg 60, 60, 66 -> 62.00 ± 3.46 (sqrt 12)
  { dir: 'runs/vanilla-s1', seed: 1, plugins: ' []', acc: 0.8, f1: 0.7, avg: 0.6, correct: { mean: 0.9, median: 0.95, count: 24 }, wrong: { mean: 0.7, median: 0.75, count: 6 }, fearF1: 0.5 },
  { dir: 'runs/vanilla-s2', seed: 2, plugins: ' []', acc: 0.82, f1: 0.71, avg: 0.6, correct: { mean: 0.92, median: 0.96, count: 24 }, wrong: { mean: 0.72, median: 0.75, count: 6 }, fearF1: 0.55 },
  { dir: 'runs/vanilla-s3', seed: 3, plugins: ' []', acc: 0.84, f1: 0.75, avg: 0.66, correct: { mean: 0.94, median: 0.97, count: 25 }, wrong: { mean: 0.74, median: 0.75, count: 5 }, fearF1: 0.6 },
  // mixup 0.1: accuracy 83, 83, 86 -> 84.00 ± 1.73 (sqrt 3); F1 72, 74, 76 -> 74.00 ± 2.00; avg 65, 66, 67 -> 66.00 ± 1.00
  { dir: 'runs/mixup-a0.1-s1', seed: 1, plugins: MIXUP_01, acc: 0.83, f1: 0.72, avg: 0.65 },
  { dir: 'runs/mixup-a0.1-s2', seed: 2, plugins: MIXUP_01, acc: 0.83, f1: 0.74, avg: 0.66 },
  { dir: 'runs/mixup-a0.1-s3', seed: 3, plugins: MIXUP_01, acc: 0.86, f1: 0.76, avg: 0.67 },
  // mixup 0.2 + dropout 0.5, seeds 1-2 (seed 3 unfinished): accuracy 81, 85 -> 83.00 ± 2.83 (sqrt 8); F1 70, 72 -> 71.00 ± 1.41; avg 61, 63 -> 62.00 ± 1.41
  { dir: 'runs/mixup-a0.2-d0.5-s1', seed: 1, plugins: MIXUP_02_DROPOUT, acc: 0.81, f1: 0.7, avg: 0.61 },
  { dir: 'runs/mixup-a0.2-d0.5-s2', seed: 2, plugins: MIXUP_02_DROPOUT, acc: 0.85, f1: 0.72, avg: 0.63 },
  // mixaugment 0.1 + dropout 0.5, one seed, a child of the root rather than a grandchild: 85.00 ± –
  { dir: 'extra-mixaugment', seed: 1, plugins: MIXAUGMENT_DEFAULT_DROPOUT, acc: 0.85, f1: 0.77, avg: 0.7 },
  // mixaugment+flip 0.1: accuracy 86, 87, 88 -> 87.00 ± 1.00; F1 78, 78, 81 -> 79.00 ± 1.73; avg 72, 74, 76 -> 74.00 ± 2.00
  // confidence: correct mean 97, 98, 99 -> 98.00, median 100; wrong mean 60, 62, (none) -> 61.00, median 65, 67 -> 66.00
  { dir: 'runs/mixaugment-flip-s1', seed: 1, plugins: FLIP_MIXAUGMENT, acc: 0.86, f1: 0.78, avg: 0.72, correct: { mean: 0.97, median: 1, count: 26 }, wrong: { mean: 0.6, median: 0.65, count: 4 }, fearF1: 0.62, angryPrecision: 0.78 },
  { dir: 'runs/mixaugment-flip-s2', seed: 2, plugins: FLIP_MIXAUGMENT, acc: 0.87, f1: 0.78, avg: 0.74, correct: { mean: 0.98, median: 1, count: 26 }, wrong: { mean: 0.62, median: 0.67, count: 4 }, fearF1: 0.64, angryPrecision: 0.78 },
  { dir: 'runs/mixaugment-flip-s3', seed: 3, plugins: FLIP_MIXAUGMENT, acc: 0.88, f1: 0.81, avg: 0.76, correct: { mean: 0.99, median: 1, count: 30 }, wrong: { mean: null, median: null, count: 0 }, fearF1: 0.66, angryPrecision: 0.78 },
];

export const UNFINISHED_DIR = 'runs/mixup-a0.2-d0.5-s3';

/** One batch of mixaugment+flip seed 1: two real images and their mix. */
export const SAMPLES = {
  version: 1,
  classes: CLASSES,
  imageSize: 4,
  views: {
    real: { weight: 1, samples: [{ png: RED_PNG, label: [1, 0, 0] }, { png: BLUE_PNG, label: [0, 0, 1] }] },
    mixed: { weight: 1, samples: [{ png: BLUE_PNG, label: [0, 0.7, 0.3] }] },
  },
};

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** A temp folder laid out like a sweep: runs/<name>/ (plus one run directly inside), one run unfinished. */
export function makeSweepFixture(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fermix-report-'));
  for (const run of RUNS) {
    write(path.join(root, run.dir, 'config.yaml'), configYaml(run));
    write(path.join(root, run.dir, 'metrics.json'), JSON.stringify(metricsJson(run), null, 2));
    write(path.join(root, run.dir, 'log.jsonl'), '');
  }
  write(path.join(root, 'runs/mixaugment-flip-s1/samples.json'), JSON.stringify(SAMPLES));
  write(path.join(root, UNFINISHED_DIR, 'config.yaml'), configYaml({ seed: 3, plugins: MIXUP_02_DROPOUT }));
  write(path.join(root, UNFINISHED_DIR, 'log.jsonl'), '{"epoch":0}\n');
  mkdirSync(path.join(root, UNFINISHED_DIR, 'checkpoints/last'), { recursive: true });
  write(path.join(root, 'sweep.json'), JSON.stringify({ note: 'the report does not read this' }));
  return root;
}

/** A run folder of another backbone, to add to a fixture: backbone becomes a row key. */
export function addRun(root: string, dir: string, run: Omit<FakeRun, 'dir'>): void {
  write(path.join(root, dir, 'config.yaml'), configYaml(run));
  write(path.join(root, dir, 'metrics.json'), JSON.stringify(metricsJson({ ...run, dir })));
}
