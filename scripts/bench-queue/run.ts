/**
 * `pnpm bench:queue`: how fast a sweep goes through the Redis queue on this machine.
 *
 * One sweep of small synthetic runs (small-cnn, each run its own `fermix train` process), run four
 * ways in every round, the order rotating from round to round so the machine's load drifts over
 * every way alike:
 *   local   `fermix sweep` (one run at a time, as --parallel 1)
 *   queue-1 `fermix sweep --queue` and 1 `fermix worker` (concurrency 1), started and ready beforehand
 *   queue-2 the same with 2 workers
 *   queue-3 the same with 3 workers
 * Wall time from the sweep command's start to the last run's metrics.json. Every run gets one
 * wasm thread (FERMIX_THREADS=1) in every way, so local and queue-1 do the same work and the workers
 * on one machine do not ask for more threads than it has. A fresh redis-server on a free port.
 *
 *   pnpm bench:queue                    # 6 runs a sweep, 2 rounds
 *   pnpm bench:queue --runs 8 --rounds 3 --json docs/queue-2026-12-03.json
 *
 * Development-time only: CI does not run it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startRedis } from '../../test-support/redis-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const node = [process.execPath, '--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href, '--conditions=fermix-source', path.join(root, 'packages/cli/src/bin.ts')];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const runs = Number(arg('runs', '6'));
const rounds = Number(arg('rounds', '2'));
const epochs = Number(arg('epochs', '2'));
const jsonOut = process.argv.includes('--json') ? arg('json', '') : '';

const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', FERMIX_THREADS: '1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

const work = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-queue-'));
writeFileSync(
  path.join(work, 'base.yaml'),
  `backend: wasm
data: { format: synthetic, imageSize: 32, trainPerClass: 8, testPerClass: 2 }
model: { backbone: small-cnn, options: { widths: [8, 16], convsPerStage: 1 } }
train: { epochs: ${epochs}, batchSize: 8, bnRecalibrationBatches: 1, earlyStopping: false }
`,
);
writeFileSync(path.join(work, 's.sweep.yaml'), `base: base.yaml\ngrid:\n  seed: [${[...Array(runs).keys()].map((i) => i + 1).join(', ')}]\n`);

function finishedRuns(out: string): number {
  const dir = path.join(out, 'runs');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((r) => existsSync(path.join(dir, r, 'metrics.json'))).length;
}

function startWorker(url: string, name: string): Promise<ChildProcess> {
  const child = spawn(node[0], [...node.slice(1), 'worker', '--queue', url, '--name', name], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (d) => {
      text += d;
      if (text.includes('takes runs from')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}):\n${text}`)));
  });
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          w.removeAllListeners('exit');
          w.once('exit', () => resolve());
          w.kill('SIGINT');
        }),
    ),
  );
}

type Way = 'local' | 'queue-1' | 'queue-2' | 'queue-3';
const ways: Way[] = ['local', 'queue-1', 'queue-2', 'queue-3'];

async function timeWay(way: Way, round: number, url: string): Promise<number> {
  const out = path.join(work, `${way}-${round}`);
  if (way === 'local') {
    const t0 = performance.now();
    const r = spawnSync(node[0], [...node.slice(1), 'sweep', '-c', 's.sweep.yaml', '--out', out], { cwd: work, env, encoding: 'utf8' });
    if (r.status !== 0 || finishedRuns(out) !== runs) throw new Error(`local sweep failed (${r.status}):\n${r.stderr}`);
    return (performance.now() - t0) / 1000;
  }
  const count = Number(way.slice(-1));
  const workers = await Promise.all([...Array(count).keys()].map((i) => startWorker(url, `${way}-${round}-w${i + 1}`)));
  try {
    const t0 = performance.now();
    const r = spawnSync(node[0], [...node.slice(1), 'sweep', '-c', 's.sweep.yaml', '--out', out, '--queue', url], { cwd: work, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`enqueue failed (${r.status}):\n${r.stderr}`);
    while (finishedRuns(out) < runs) await sleep(20);
    return (performance.now() - t0) / 1000;
  } finally {
    await stopWorkers(workers);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const redis = await startRedis();
  const url = redis.url();
  const startedAt = new Date().toISOString();
  const loadStart = load();
  const seconds: Record<Way, number[]> = { local: [], 'queue-1': [], 'queue-2': [], 'queue-3': [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = ways.map((_, i) => ways[(i + round) % ways.length]);
      for (const way of order) {
        const s = await timeWay(way, round, url);
        seconds[way].push(s);
        process.stderr.write(`round ${round + 1}/${rounds} ${way}: ${runs} runs in ${s.toFixed(1)} s (load ${load()})\n`);
      }
    }
  } finally {
    await redis.dispose();
  }
  const loadEnd = load();
  const perRound = (way: Way) => seconds[way].map((s, i) => s / seconds.local[i]);
  const rows = ways.map((way) => {
    const wall = median(seconds[way]);
    return { way, seconds: +wall.toFixed(2), runsPerMinute: +((runs * 60) / wall).toFixed(2), vsLocal: +median(perRound(way)).toFixed(3) };
  });
  // Per run: the queue's extra wall time with one worker against the local sweep, paired by round.
  const overheadMs = median(seconds['queue-1'].map((s, i) => ((s - seconds.local[i]) / runs) * 1000));
  const lines = [
    `| way | wall (s, median of ${rounds}) | runs / minute | wall / local (median of per-round ratios) |`,
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.way} | ${r.seconds} | ${r.runsPerMinute} | ${r.vsLocal} |`),
    '',
    `queue overhead per run (queue-1 against local, paired by round, median): ${overheadMs.toFixed(0)} ms`,
    `${runs} runs a sweep (synthetic 32x32, small-cnn [8, 16], ${epochs} epochs, FERMIX_THREADS=1), ${rounds} rounds, ${os.availableParallelism()} cores, Node ${process.versions.node}`,
    `started ${startedAt}; load average (1, 5, 15 min) ${loadStart} at the start, ${loadEnd} at the end`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (jsonOut) {
    writeFileSync(
      jsonOut,
      JSON.stringify({ schema: 'fermix-bench-queue/1', startedAt, runs, rounds, epochs, cores: os.availableParallelism(), node: process.versions.node, loadStart, loadEnd, seconds, rows, overheadMsPerRun: +overheadMs.toFixed(0) }, null, 2) + '\n',
    );
  }
  rmSync(work, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
