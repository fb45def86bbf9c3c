/**
 * Two figures of issue 17, measured on this checkout and on another (the code before a change),
 * interleaved in one run (rounds A B B A ...), each measurement in a fresh child process:
 *
 * - `fermix prepare` with the dataset's landmarks (`data.align.landmarks: dataset`) on a RAF-DB
 *   layout of `--images` originals (JPEG, 400 x 300, one annotation each): images per second;
 * - a streamed epoch: `Trainer.run` with `data.cacheMB: 0` (train and test streamed from disk) on an
 *   image folder of 16 x 16 PNGs (240 train, 60 test), a one-stage CNN on the cpu backend: the wall
 *   time of each epoch after the first (training pass, batch-norm recalibration pass and evaluation
 *   pass), where the decode workers' start-up is what changed.
 *
 *   git worktree add /tmp/before <commit>   # then pnpm install --offline there
 *   npx tsx --conditions=fermix-source packages/data/bench/before-after.ts --before /tmp/before [--rounds 3] [--images 600] [--tasks prepare,epoch] [--json out.json]
 *
 * Both checkouts run from their sources (`--conditions=fermix-source`, tsx). The machine's load
 * average is printed with the figures: on a shared machine, compare the ratio, not the absolute times.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('../../..', import.meta.url));
const args = process.argv.slice(2);
const option = (name: string, fallback?: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};

type Task = 'prepare' | 'epoch';

/** One measurement, in a child process running `tree`'s sources. */
async function child(tree: string, task: Task, fixture: string): Promise<void> {
  const src = (p: string) => pathToFileURL(path.join(tree, p)).href;
  const core = await import(src('packages/core/src/index.ts'));
  const { openSession } = await import(src('packages/cli/src/setup.ts'));
  if (task === 'prepare') {
    const { prepareCommand } = await import(src('packages/cli/src/commands/prepare.ts'));
    const out = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-prepared-'));
    rmSync(out, { recursive: true });
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    const t0 = performance.now();
    await prepareCommand({ config: path.join(fixture, 'raf.yaml'), out }, { out: sink, logger: core.silentLogger });
    const seconds = (performance.now() - t0) / 1000;
    rmSync(out, { recursive: true, force: true });
    console.log(JSON.stringify({ seconds }));
    return;
  }
  const session = await openSession(path.join(fixture, 'stream.yaml'), core.silentLogger);
  const { metrics } = await new core.Trainer({ config: session.config, container: session.container }).run();
  console.log(JSON.stringify({ epochSeconds: metrics.history.map((h: { seconds: number }) => h.seconds) }));
}

/** RAF-DB originals with annotations, and an image folder of small PNGs, written once for both sides. */
async function writeFixture(dir: string, images: number): Promise<void> {
  const { encodeRgbPng } = await import(pathToFileURL(path.join(here, 'packages/core/src/index.ts')).href);
  const { alignmentTemplate, applyTransform } = await import(pathToFileURL(path.join(here, 'packages/data/src/index.ts')).href);
  const jpeg = (await import('jpeg-js')).default;
  const raf = path.join(dir, 'raf');
  for (const sub of ['EmoLabel', 'Image/original', 'Annotation/manual']) mkdirSync(path.join(raf, sub), { recursive: true });
  const [width, height] = [400, 300];
  const labels: string[] = [];
  for (let i = 0; i < images; i++) {
    const split = i % 5 === 0 ? 'test' : 'train';
    const name = `${split}_${String(i + 1).padStart(5, '0')}.jpg`;
    const code = (i % 7) + 1;
    labels.push(`${name} ${code}`);
    const turn = ((i % 13) - 6) / 40;
    const points = alignmentTemplate(112).map((p: { x: number; y: number }) => applyTransform({ a: 2 * Math.cos(turn), b: 2 * Math.sin(turn), tx: 80 + (i % 9), ty: 30 + (i % 7) }, p));
    const data = Buffer.alloc(width * height * 4);
    for (let p = 0; p < width * height; p++) data.set([(p * 7 + i) % 200 + 30, (p * 13) % 180 + 40, (p * 3 + i * 5) % 220 + 20, 255], p * 4);
    writeFileSync(path.join(raf, 'Image/original', name), jpeg.encode({ width, height, data }, 90).data);
    const annotation = points.map((p: { x: number; y: number }) => `${p.x.toFixed(2)}\t${p.y.toFixed(2)}`).join('\n') + '\n0\n1\n2\n';
    writeFileSync(path.join(raf, 'Annotation/manual', name.replace('.jpg', '_manu_attri.txt')), annotation);
  }
  writeFileSync(path.join(raf, 'EmoLabel/list_patition_label.txt'), labels.join('\n') + '\n');
  writeFileSync(path.join(dir, 'raf.yaml'), 'data:\n  format: rafdb\n  root: raf\n  align: { landmarks: dataset, size: 100 }\n');

  const folder = path.join(dir, 'faces');
  const classes = ['angry', 'happy', 'sad'];
  for (const split of ['train', 'test']) {
    for (const [c, cls] of classes.entries()) {
      mkdirSync(path.join(folder, split, cls), { recursive: true });
      const count = split === 'train' ? 80 : 20;
      for (let k = 0; k < count; k++) {
        const rgb = new Uint8Array(16 * 16 * 3).map((_, p) => (p % 3 === c ? 150 : 60) + ((p * 17 + k * 31) % 90));
        writeFileSync(path.join(folder, split, cls, `${k}.png`), encodeRgbPng(rgb, 16, 16));
      }
    }
  }
  writeFileSync(
    path.join(dir, 'stream.yaml'),
    [
      'seed: 1',
      'backend: cpu',
      'data:',
      '  format: imagefolder',
      '  root: faces',
      '  imageSize: 16',
      '  cacheMB: 0',
      '  prefetch: 4',
      'model:',
      '  backbone: small-cnn',
      '  options: { widths: [4], convsPerStage: 1 }',
      'train:',
      '  epochs: 3',
      '  batchSize: 32',
      '  earlyStopping: false',
      '  bnRecalibrationBatches: 2',
      '',
    ].join('\n'),
  );
}

function run(tree: string, task: Task, fixture: string): Record<string, any> {
  const env = { ...process.env, NODE_OPTIONS: '--conditions=fermix-source' };
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', task, '--tree', tree, '--fixture', fixture], {
    cwd: tree,
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const childTask = option('child') as Task | undefined;
  if (childTask) return child(option('tree')!, childTask, option('fixture')!);
  const keep = option('write-fixture');
  if (keep) return writeFixture(keep, Number(option('images', '600')));
  const before = path.resolve(option('before') ?? '');
  if (!option('before')) throw new Error('--before <checkout of the code before the change> is required');
  const rounds = Number(option('rounds', '3'));
  const images = Number(option('images', '600'));
  const tasks = (option('tasks', 'prepare,epoch') as string).split(',');
  const fixture = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-17-'));
  try {
    await writeFixture(fixture, images);
    const sides = { before, after: here };
    const prepare: Record<string, number[]> = { before: [], after: [] };
    const epoch: Record<string, number[]> = { before: [], after: [] };
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
      for (const side of order) {
        if (tasks.includes('prepare')) prepare[side].push(images / run(sides[side], 'prepare', fixture).seconds);
        if (tasks.includes('epoch')) epoch[side].push(...run(sides[side], 'epoch', fixture).epochSeconds.slice(1));
        loads.push(os.loadavg()[0]);
        console.error(`round ${r + 1} ${side}: prepare ${prepare[side].at(-1)?.toFixed(1)} images/s, epochs ${epoch[side].slice(-2).map((s) => s.toFixed(2)).join(' ')} s (load ${os.loadavg()[0].toFixed(2)})`);
      }
    }
    const result = {
      images,
      rounds,
      cores: os.availableParallelism(),
      loadAverage: { min: Math.min(...loads), max: Math.max(...loads) },
      prepareImagesPerSecond: { before: median(prepare.before), after: median(prepare.after), ratio: median(prepare.after) / median(prepare.before), all: prepare },
      streamedEpochSeconds: { before: median(epoch.before), after: median(epoch.after), ratio: median(epoch.after) / median(epoch.before), all: epoch },
    };
    console.log(JSON.stringify(result, null, 2));
    const json = option('json');
    if (json) writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
  } finally {
    rmSync(fixture, { recursive: true, force: true });
  }
}

await main();
