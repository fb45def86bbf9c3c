/**
 * `pnpm bench:anchor`: fermix's training step against PyTorch's on this CPU, side by side.
 *
 * Four step servers, each a process of its own: fermix at 1 thread and at every thread
 * (`fermix step-server`), PyTorch at 1 thread and at every thread (torch_step.py, Debian's
 * python3-torch). The same model (small-cnn by default: fermix's, rebuilt layer for layer in
 * PyTorch, same parameter count), the same batch size and input size, Adam, one training step =
 * forward + backward + update with the loss read back. Steps run one at a time, round-robin with the
 * order rotating each round, so the machine's load drifts over every side alike. Ratios are medians
 * of per-round ratios.
 *
 *   pnpm bench:anchor                         # small-cnn 48x48, batch 32, 3 warm-up + 12 rounds
 *   pnpm bench:anchor --model resnet18 --size 64 --rounds 6
 *   pnpm bench:anchor --json runs/anchor.json
 *   pnpm bench:anchor --accelerator          # also fermix with @fermix/accel-onnxruntime, 1 and all threads
 *
 * Installs python3-torch from Debian when it is missing and this runs as root (apt-get), else says
 * how. Development-time only: CI does not run it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleaveSteps, StepClient } from '../../packages/cli/src/bench/step-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const model = arg('model', 'small-cnn');
const size = Number(arg('size', model === 'small-cnn' ? '48' : '64'));
const batch = Number(arg('batch', '32'));
const warmup = Number(arg('warmup', '3'));
const rounds = Number(arg('rounds', '12'));
const jsonOut = process.argv.includes('--json') ? arg('json', '') : '';
const withAccelerator = process.argv.includes('--accelerator');
const cores = os.availableParallelism();

/** Debian's torch lives in /usr/bin/python3's dist-packages (a pyenv python3 on PATH may lack it). */
function findTorchPython(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  if (process.getuid?.() === 0) {
    process.stderr.write('[anchor] python3-torch is missing: apt-get install -y python3-torch\n');
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'python3-torch'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status === 0) return '/usr/bin/python3';
  }
  throw new Error('PyTorch is not installed: on Debian, `sudo apt-get install python3-torch` (1.13), then run this again');
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

const python = findTorchPython();
const fermix = [path.join(root, 'node_modules/.bin/tsx'), '--conditions=fermix-source', path.join(root, 'packages/cli/src/bin.ts'), 'step-server', '--backend', 'wasm', '--threads'];
const torch = [python, path.join(here, 'torch_step.py'), '--threads'];
const sides = [
  { label: 'fermix 1 thread', client: new StepClient('fermix 1 thread', [...fermix, '1']) },
  { label: `fermix ${cores} threads`, client: new StepClient('fermix all threads', [...fermix, String(cores)]) },
  { label: 'pytorch 1 thread', client: new StepClient('pytorch 1 thread', [...torch, '1']) },
  { label: `pytorch ${cores} threads`, client: new StepClient('pytorch all threads', [...torch, String(cores)]) },
  ...(withAccelerator
    ? [
        { label: 'fermix+ort 1 thread', client: new StepClient('fermix+onnxruntime 1 thread', [...fermix, '1', '--accelerator', 'onnxruntime']) },
        { label: `fermix+ort ${cores} threads`, client: new StepClient('fermix+onnxruntime all threads', [...fermix, String(cores), '--accelerator', 'onnxruntime']) },
      ]
    : []),
];
const loadAtStart = os.loadavg().map((v) => +v.toFixed(2));
process.stderr.write(`[anchor] ${model} ${size}x${size} batch ${batch}, ${warmup} warm-up + ${rounds} rounds, ${cores} cores, load ${loadAtStart.join(' ')}\n`);
let result;
try {
  result = await interleaveSteps(sides, { model, size, batch }, warmup, rounds, (m) => process.stderr.write(`[anchor] ${m}\n`));
} finally {
  for (const s of sides) s.client.close();
}
const [f1, fN, t1, tN, a1, aN] = result;
if (f1.params !== t1.params) throw new Error(`the two models differ: fermix ${f1.params} parameters, PyTorch ${t1.params}`);
const ratio = (a: typeof f1, b: typeof f1) => median(a.ms.map((t, i) => t / b.ms[i]));
const rows = result.map((s) => ({
  side: s.label,
  threads: s.ready.threads,
  stepMs: +median(s.ms).toFixed(1),
  imagesPerSecond: +((batch * 1000) / median(s.ms)).toFixed(1),
  cpuOverWall: +(sum(s.cpuMs) / sum(s.ms)).toFixed(2),
}));
const ratios = {
  fermixOverPytorch1Thread: +ratio(f1, t1).toFixed(2),
  fermixOverPytorchAllThreads: +ratio(fN, tN).toFixed(2),
  fermixAllOver1: +ratio(f1, fN).toFixed(2),
  pytorchAllOver1: +ratio(t1, tN).toFixed(2),
  ...(a1 && aN
    ? {
        acceleratedOverPytorch1Thread: +ratio(a1, t1).toFixed(2),
        acceleratedOverPytorchAllThreads: +ratio(aN, tN).toFixed(2),
        acceleratedAllOver1: +ratio(a1, aN).toFixed(2),
      }
    : {}),
};
const lines = [
  `fermix vs PyTorch ${(result[2].ready as { torch?: string }).torch ?? ''} on this CPU: ${model} ${size}x${size}, batch ${batch}, Adam, ${warmup} warm-up + ${rounds} interleaved rounds; ${cores} cores, load ${loadAtStart.join(' ')} at start`,
  `${'side'.padEnd(22)} ${'threads'.padStart(7)} ${'step ms'.padStart(8)} ${'images/s'.padStart(9)} ${'cores busy'.padStart(10)}`,
  ...rows.map((r) => `${r.side.padEnd(22)} ${String(r.threads).padStart(7)} ${r.stepMs.toFixed(1).padStart(8)} ${r.imagesPerSecond.toFixed(1).padStart(9)} ${r.cpuOverWall.toFixed(2).padStart(10)}`),
  `fermix step / PyTorch step: ${ratios.fermixOverPytorch1Thread} at 1 thread, ${ratios.fermixOverPytorchAllThreads} at ${cores} threads (median of per-round ratios)`,
  `all threads / 1 thread (images/s): fermix ${ratios.fermixAllOver1}x, PyTorch ${ratios.pytorchAllOver1}x`,
  ...(a1 && aN
    ? [
        `fermix with onnxruntime / PyTorch: ${ratios.acceleratedOverPytorch1Thread} at 1 thread, ${ratios.acceleratedOverPytorchAllThreads} at ${cores} threads; all threads / 1 thread ${ratios.acceleratedAllOver1}x`,
      ]
    : []),
];
process.stdout.write(lines.join('\n') + '\n');
if (jsonOut) {
  const file = path.resolve(jsonOut);
  if (!existsSync(path.dirname(file))) mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ schema: 'fermix-anchor/1', date: new Date().toISOString(), model, size, batch, warmup, rounds, cores, loadAtStart, params: f1.params, rows, ratios }, null, 2) + '\n');
}
