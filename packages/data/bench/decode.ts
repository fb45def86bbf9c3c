/**
 * Decode benchmark (not a test): images/s decoded, resized and batched by the training stream
 * (stream.ts: decode in worker threads, prefetch queue, uint8 → float batches of 32), in-process
 * and with 1 and 2 workers, with the pure-JavaScript decoders and with sharp where decode.ts's rule
 * picks it. Then the resident memory (RSS) of one streamed epoch over a split larger than a small
 * data.cacheMB budget.
 *
 *   npx tsx --conditions=fermix-source packages/data/bench/decode.ts [--jpegs 300] [--json out.json]
 *
 * Data: ../shared/data/fer2013-mini beside the repository (1,750 48x48 PNGs; skipped when absent)
 * and 640x480 JPEGs generated into a temporary folder (removed at the end).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import jpeg from 'jpeg-js';
import { batchRanges, createMemoryLogger, Rng, type DataSource } from '@fermix/core';
import { loadSharp, openSplit, streamedSplit, type DecoderChoice, type FileListSource, type SplitFiles } from '@fermix/data';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const JPEG_COUNT = Number(option('jpegs', '300'));
const JSON_OUT = path.resolve(option('json', path.join(here, 'decode.results.json')));
const FER_ROOT = path.resolve(here, '../../../../shared/data/fer2013-mini');
const BATCH = 32;

interface Row {
  data: string;
  images: number;
  size: number;
  decoder: DecoderChoice;
  workers: number;
  imagesPerSecond: number;
  seconds: number;
}

function filesOf(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(png|jpe?g)$/i.test(e.name)) out.push(p);
    }
  };
  walk(root);
  return out;
}

function splitFiles(paths: string[], what: string): SplitFiles {
  return { split: 'bench', classes: ['all'], items: paths.map((p) => ({ path: p })), labels: new Int32Array(paths.length), skipped: [], what };
}

/** A photo-like 640x480 picture: gradients, a bright ellipse and noise, so the JPEG is of a realistic size. */
async function generateJpegs(dir: string, count: number): Promise<string[]> {
  const [w, h] = [640, 480];
  const sharp = await loadSharp();
  const encodeWithSharp = sharp ? ((await import('sharp')).default as unknown as (input: Buffer, o: object) => { jpeg(o: object): { toBuffer(): Promise<Buffer> } }) : null;
  const paths: string[] = [];
  const rnd = new Rng(42);
  for (let i = 0; i < count; i++) {
    const data = Buffer.alloc(w * h * 3);
    const [cx, cy, r] = [200 + rnd.uniform() * 240, 150 + rnd.uniform() * 180, 80 + rnd.uniform() * 80];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inFace = (x - cx) ** 2 + ((y - cy) * 1.3) ** 2 < r * r;
        const o = (y * w + x) * 3;
        const noise = rnd.uniform() * 24;
        data[o] = Math.min(255, (inFace ? 200 : (x * 160) / w) + noise);
        data[o + 1] = Math.min(255, (inFace ? 150 : (y * 160) / h) + noise);
        data[o + 2] = Math.min(255, (inFace ? 120 : 90) + noise);
      }
    }
    const file = path.join(dir, `photo-${String(i).padStart(4, '0')}.jpg`);
    const bytes = encodeWithSharp
      ? await encodeWithSharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer()
      : jpeg.encode({ width: w, height: h, data: rgbToRgba(data, w * h) }, 90).data;
    writeFileSync(file, bytes);
    paths.push(file);
  }
  return paths;
}

function rgbToRgba(rgb: Buffer, pixels: number): Buffer {
  const out = Buffer.alloc(pixels * 4, 255);
  for (let p = 0; p < pixels; p++) rgb.copy(out, p * 4, p * 3, p * 3 + 3);
  return out;
}

/** One streamed epoch (shuffled, batches of 32): images/s, worker start included. */
async function epoch(files: SplitFiles, size: number, workers: number, decoder: DecoderChoice): Promise<number> {
  const logger = createMemoryLogger();
  const data = streamedSplit(files, { size, prefetch: 4, workers, decoder, logger });
  const order = new Rng(1).permutation(data.count);
  const t0 = performance.now();
  let images = 0;
  for await (const batch of data.batches(order, batchRanges(data.count, BATCH))) images += batch.count;
  const seconds = (performance.now() - t0) / 1000;
  const problems = logger.lines.filter((l) => l.level === 'warn');
  if (problems.length > 0) throw new Error(`benchmark run was not clean: ${problems[0].message}`);
  return images / seconds;
}

/**
 * Every configuration `repeats` times, interleaved (so a burst of load on the shared machine does
 * not land on one configuration only); the best run of each is reported.
 */
async function measure(name: string, paths: string[], size: number, sharpAvailable: boolean, repeats: number): Promise<Row[]> {
  const files = splitFiles(paths, name);
  const decoders: DecoderChoice[] = sharpAvailable ? ['js', 'auto'] : ['js'];
  const configs = decoders.flatMap((decoder) => [0, 1, 2].map((workers) => ({ decoder, workers, rates: [] as number[] })));
  await epoch(files, size, 0, 'js'); // warms the page cache and the JIT
  for (let r = 0; r < repeats; r++) {
    for (const c of r % 2 ? [...configs].reverse() : configs) c.rates.push(await epoch(files, size, c.workers, c.decoder));
  }
  return configs.map(({ decoder, workers, rates }) => {
    const best = Math.max(...rates);
    console.error(`  ${name} @${size} ${decoder} workers=${workers}: ${best.toFixed(0)} images/s (runs: ${rates.map((x) => x.toFixed(0)).join(', ')})`);
    return { data: name, images: paths.length, size, decoder, workers, imagesPerSecond: +best.toFixed(0), seconds: +(paths.length / best).toFixed(2) };
  });
}

/**
 * RSS during one streamed epoch (openSplit with a small budget, default stream workers) over the
 * JPEG folder listed `repeat` times: the peak growth should not depend on `repeat`.
 */
async function streamedMemory(paths: string[], repeat: number, size: number, budgetMB: number) {
  const listed = Array.from({ length: repeat }, () => paths).flat();
  const files = splitFiles(listed, `${repeat} x ${paths.length} generated JPEGs`);
  const source: FileListSource = {
    description: files.what,
    classes: async () => files.classes,
    splits: async () => ['bench'],
    load: async () => {
      throw new Error('the benchmark split must not be loaded whole');
    },
    files: async () => files,
  };
  const logger = createMemoryLogger();
  gc();
  const before = process.memoryUsage().rss;
  const data = await openSplit(source as DataSource, 'bench', { imageSize: size, logger, budgetBytes: budgetMB * 2 ** 20, prefetch: 4 });
  if (!data.streamed) throw new Error('expected the split to be streamed');
  let peak = before;
  let batches = 0;
  const t0 = performance.now();
  const samples: number[] = [];
  for await (const batch of data.batches(new Rng(3).permutation(data.count), batchRanges(data.count, BATCH))) {
    void batch;
    const rss = process.memoryUsage().rss;
    peak = Math.max(peak, rss);
    if (batches++ % 10 === 0) samples.push(rss);
  }
  const seconds = (performance.now() - t0) / 1000;
  const mb = (b: number) => +(b / 2 ** 20).toFixed(1);
  return {
    images: data.count,
    size,
    budgetMB,
    decodedSizeMB: mb(data.count * size * size * 3),
    rssBeforeMB: mb(before),
    rssPeakMB: mb(peak),
    rssGrowthMB: mb(peak - before),
    rssEndMB: mb(samples.at(-1) ?? before),
    imagesPerSecond: +(data.count / seconds).toFixed(0),
  };
}

v8.setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
function gc(): void {
  collectGarbage();
}

function table(rows: Row[]): string {
  const head = ['data', 'images', 'size', 'decoder', 'in-process', '1 worker', '2 workers'];
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(`${r.data}|${r.size}|${r.decoder}`, [...(groups.get(`${r.data}|${r.size}|${r.decoder}`) ?? []), r]);
  const lines = [...groups.values()].map((g) => [
    g[0].data,
    String(g[0].images),
    `${g[0].size}x${g[0].size}`,
    g[0].decoder === 'js' ? 'pngjs/jpeg-js' : 'auto (sharp for JPEG >= 64x64)',
    ...[0, 1, 2].map((w) => `${g.find((r) => r.workers === w)?.imagesPerSecond ?? '-'} img/s`),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

async function main() {
  const sharp = await loadSharp();
  const load = { start: os.loadavg().map((x) => +x.toFixed(2)) };
  console.error(`cores ${os.availableParallelism()}, load average ${load.start.join(' ')}, sharp ${sharp ? 'available' : 'not installed'}`);
  const rows: Row[] = [];
  if (existsDir(FER_ROOT)) {
    const fer = filesOf(FER_ROOT);
    rows.push(...(await measure('fer2013-mini PNG', fer, 48, Boolean(sharp), 3)));
    rows.push(...(await measure('fer2013-mini PNG', fer, 100, Boolean(sharp), 3)));
  } else {
    console.error(`skipping fer2013-mini: ${FER_ROOT} not found (see ../shared/data/README.md)`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-jpegs-'));
  let memory: Awaited<ReturnType<typeof streamedMemory>>[] = [];
  try {
    console.error(`generating ${JPEG_COUNT} 640x480 JPEGs in ${dir}`);
    const jpegs = await generateJpegs(dir, JPEG_COUNT);
    const bytes = jpegs.reduce((n, p) => n + statSync(p).size, 0);
    console.error(`  mean file size ${(bytes / jpegs.length / 1024).toFixed(0)} KB`);
    rows.push(...(await measure('640x480 JPEG', jpegs, 100, Boolean(sharp), 2)));
    memory = [];
    for (const repeat of [1, 4, 16]) memory.push(await streamedMemory(jpegs, repeat, 100, 4));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const report = { cores: os.availableParallelism(), loadAverage: { ...load, end: os.loadavg().map((x) => +x.toFixed(2)) }, sharp: Boolean(sharp), batch: BATCH, rows, streamedMemory: memory };
  writeFileSync(JSON_OUT, JSON.stringify(report, null, 2) + '\n');
  console.log(table(rows));
  console.log(`\nRSS during one streamed epoch (data.cacheMB ${memory[0].budgetMB}, prefetch 4, batch ${BATCH}, default workers):`);
  for (const m of memory) {
    console.log(
      `  ${String(m.images).padStart(5)} images at ${m.size}x${m.size} (${String(m.decodedSizeMB).padStart(6)} MB if cached): ` +
        `RSS ${m.rssBeforeMB} MB before, peak ${m.rssPeakMB} MB (+${m.rssGrowthMB} MB), ${m.rssEndMB} MB at the end; ${m.imagesPerSecond} images/s`,
    );
  }
  console.log(`load average ${report.loadAverage.start.join(' ')} → ${report.loadAverage.end.join(' ')} on ${report.cores} cores; JSON: ${JSON_OUT}`);
}

function existsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

await main();
