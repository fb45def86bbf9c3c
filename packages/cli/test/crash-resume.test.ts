/**
 * Crash-resume equality: the real `fermix train` killed with SIGKILL at random moments, some of
 * them in the middle of a checkpoint write, and resumed with --resume each time, ends with the
 * metrics.json of the run that was never interrupted (the same seed; only the timing fields
 * differ), every epoch once in log.jsonl, and no checkpoint leftovers. Three runs: vanilla,
 * mixaugment + flip + dropout, and an image folder streamed from disk (data.cacheMB: 0).
 *
 * The kills are spread over the three runs: FERMIX_CRASH_KILLS of them, their moments drawn from
 * FERMIX_CRASH_SEED (fixed unless set; printed, so a failure replays). CI runs 6 (two per run, one
 * of them inside a checkpoint write) to stay within its time; the 20 are one command,
 * `FERMIX_CRASH_KILLS=20 pnpm vitest run packages/cli/test/crash-resume.test.ts` (about 4 minutes on
 * the 2-core development machine under load, see the README's security section). Each kill is
 * followed by a resume; every process is a tiny model on synthetic faces at --threads 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeRgbPng, Rng } from '@fermix/core';
import { renderSyntheticFace } from '@fermix/data';
import { afterAll, describe, expect, it } from 'vitest';
import { fermixBin } from '../../../test-support/fermix-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const tsxLoader = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const KILLS = Number(process.env.FERMIX_CRASH_KILLS ?? 6);
const SEED = Number(process.env.FERMIX_CRASH_SEED ?? 16);
const work = mkdtempSync(path.join(os.tmpdir(), 'fermix-crash-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = (data: string, plugins = '[]') => `seed: 5
backend: wasm
threads: 1
data:
${data}
model:
  backbone: small-cnn
  options: { widths: [4, 8], convsPerStage: 1 }
train:
  epochs: 4
  batchSize: 8
  bnRecalibrationBatches: 2
  earlyStopping: false
plugins: ${plugins}
`;
const synthetic = '  format: synthetic\n  imageSize: 16\n  trainPerClass: 6\n  testPerClass: 2';

/** An image folder of synthetic faces as PNG files, read with a cache of 0 MB: streamed from disk. */
function streamedFolder(dir: string): string {
  const rng = new Rng(7);
  const classes = ['angry', 'happy', 'neutral', 'sad'];
  for (const [split, n] of [['train', 8], ['test', 3]] as const) {
    classes.forEach((cls, label) => {
      mkdirSync(path.join(dir, 'faces', split, cls), { recursive: true });
      for (let i = 0; i < n; i++) {
        const rgb = renderSyntheticFace([0, 3, 4, 5][label], rng, 16);
        writeFileSync(path.join(dir, 'faces', split, cls, `${i}.png`), encodeRgbPng(rgb, 16, 16));
      }
    });
  }
  return `  format: imagefolder\n  root: faces\n  imageSize: 16\n  cacheMB: 0\n  prefetch: 2`;
}

const RUNS = [
  { name: 'vanilla', config: () => base(synthetic) },
  { name: 'mixaugment+flip+dropout', config: () => base(synthetic, '\n  - flip: { p: 0.5 }\n  - mixaugment: { alpha: 0.4 }\n  - dropout: { rate: 0.5 }') },
  { name: 'streamed', config: (dir: string) => base(streamedFolder(dir)) },
];

/** The real CLI from the sources, in one process (no tsx wrapper), so SIGKILL hits fermix itself. */
function start(dir: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', tsxLoader, '--conditions=fermix-source', fermixBin, 'train', '--threads', '1', ...args], {
    cwd: dir,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

function finished(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

/**
 * Kills `child` with SIGKILL as soon as a checkpoint save has created its temporary folder
 * (checkpoints/<name>.tmp-*), i.e. in the middle of the write. Resolves when it has, or when the run ended first.
 */
function killDuringCheckpointWrite(child: ChildProcess, runDir: string): Promise<boolean> {
  const checkpoints = path.join(runDir, 'checkpoints');
  return new Promise((resolve) => {
    let watcher: FSWatcher | undefined;
    let done = false;
    const finish = (killed: boolean) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      resolve(killed);
    };
    const onEntry = (name: string | null) => {
      if (name && name.includes(`.tmp-${child.pid}-`) && !done) {
        child.kill('SIGKILL');
        finish(true);
      }
    };
    // Watch once the folder exists (created by the first save, whose temp folder is made right after).
    const poll = setInterval(() => {
      if (watcher || !existsSync(checkpoints)) return;
      try {
        watcher = watch(checkpoints, (_event, name) => onEntry(name));
      } catch {
        // the folder vanished between the check and the watch: try again
      }
    }, 2);
    child.on('close', () => finish(false));
  });
}

/** metrics.json without what depends on the clock: the rest must be equal. */
function timeless(metrics: Record<string, any>): Record<string, unknown> {
  const { seconds: _s, cpuSeconds: _c, history, ...rest } = metrics;
  return { ...rest, history: history.map(stripTimes) };
}
function stripTimes({ seconds: _s, imagesPerSecond: _i, dataWaitShare: _d, time: _t, ...rest }: Record<string, unknown>) {
  return rest;
}

describe('crash-resume equality: kill -9 at random moments, resume, the same run', () => {
  it(`${KILLS} kills over vanilla, mixaugment + flip + dropout and a streamed image folder give the uninterrupted run's metrics.json, every epoch once`, async () => {
    console.log(`crash-resume: ${KILLS} kills, seed ${SEED} (replay: FERMIX_CRASH_SEED=${SEED} FERMIX_CRASH_KILLS=${KILLS})`);
    const rng = new Rng(SEED);
    const started = performance.now();
    const kinds = { random: 0, save: 0 };
    let leftoversSeen = 0;
    for (const [r, run] of RUNS.entries()) {
      const dir = path.join(work, `run-${r}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'fermix.config.yaml'), run.config(dir));

      const t0 = performance.now();
      const straight = await finished(start(dir, ['--out', 'straight']));
      expect(straight.code, straight.stderr).toBe(0);
      const duration = performance.now() - t0;
      const expected = JSON.parse(readFileSync(path.join(dir, 'straight', 'metrics.json'), 'utf8'));

      // This run's share of the kills: the second, fifth, ... waits for a checkpoint write; the
      // others come at a random moment of the process's life (start-up, data, steps, evaluation, saves).
      const kills = Math.floor(KILLS / RUNS.length) + (r < KILLS % RUNS.length ? 1 : 0);
      const runDir = path.join(dir, 'chain');
      let done = 0;
      for (let attempt = 0; done < kills; attempt++) {
        expect(attempt, `${run.name}: the run kept finishing before its kill`).toBeLessThan(3 * kills + 3);
        const child = start(dir, ['--out', 'chain', ...(attempt > 0 ? ['--resume'] : [])]);
        const result = finished(child);
        const aimAtSave = done % 3 === 1 && !existsSync(path.join(runDir, 'metrics.json'));
        if (aimAtSave) {
          await killDuringCheckpointWrite(child, runDir);
        } else {
          await new Promise((resolve) => setTimeout(resolve, rng.uniform() * 0.8 * duration));
          child.kill('SIGKILL');
        }
        const { code, signal, stderr } = await result;
        if (signal !== 'SIGKILL') {
          // It got to its end before the kill: it must have ended well; the kill is drawn again.
          expect(code, stderr).toBe(0);
          continue;
        }
        done++;
        kinds[aimAtSave ? 'save' : 'random']++;
        const checkpointsDir = path.join(runDir, 'checkpoints');
        if (existsSync(checkpointsDir) && readdirSync(checkpointsDir).some((n) => /\.(tmp|old)-/.test(n))) leftoversSeen++;
      }
      const last = await finished(start(dir, ['--out', 'chain', '--resume']));
      expect(last.code, last.stderr).toBe(0);

      const got = JSON.parse(readFileSync(path.join(runDir, 'metrics.json'), 'utf8'));
      expect(timeless(got), run.name).toEqual(timeless(expected));
      const log = readFileSync(path.join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(log.map((e) => e.epoch), `${run.name}: each epoch once in log.jsonl`).toEqual([0, 1, 2, 3]);
      expect(log.map(stripTimes)).toEqual(expected.history.map(stripTimes));
      expect(readFileSync(path.join(runDir, 'samples.json'), 'utf8')).toBe(readFileSync(path.join(dir, 'straight', 'samples.json'), 'utf8'));
      // A finished run leaves complete checkpoints and no temporary or parked folders.
      expect(readdirSync(path.join(runDir, 'checkpoints')).sort(), run.name).toEqual(['best', 'last']);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`crash-resume: ${kinds.random + kinds.save} kills (${kinds.random} at random moments, ${kinds.save} inside a checkpoint write; ${leftoversSeen} left a temporary or parked checkpoint folder behind), 3 runs, ${seconds.toFixed(0)} s`);
    expect(kinds.random + kinds.save).toBe(KILLS);
    // Every run had a kill inside a checkpoint write (when it had two kills or more).
    if (KILLS >= 2 * RUNS.length) expect(kinds.save).toBeGreaterThanOrEqual(RUNS.length);
  }, 1_200_000);
});
