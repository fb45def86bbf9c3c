import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, createMemoryLogger, validateConfig } from '@fermix/core';
import { dropoutRate, readSweepFile } from '../src/sweep/spec.js';
import { parseGpus, runGpuEnv, runSweep, runThreadsEnv } from '../src/sweep/runner.js';
import { UsageError } from '../src/commands/train.js';
import { tinyRunConfig } from '../../../test-support/tiny-run.js';
import { alive } from '../../../test-support/processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');

const baseConfig = (epochs: number, perClass: number) => tinyRunConfig({ epochs, perClass, plugins: ['flip: {}'] });

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-sweep-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function fermixSync(args: string[], cwd: string) {
  const r = spawnSync(tsx, ['--conditions=fermix-source', bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sweep file', () => {
  it('expands method x alpha x dropout x seed into named runs; alpha folds away for methods without one', () => {
    const dir = project({
      'base.yaml': baseConfig(1, 2).replace('format: synthetic', 'format: imagefolder\n  root: ./faces'),
      'paper.sweep.yaml': 'base: base.yaml\ngrid:\n  method: [vanilla, mixup, mixaugment, mixaugment+flip]\n  alpha: [0.1, 0.2, 0.6, 1]\n  dropout: [none, 0.5]\n  seed: [1, 2, 3]\n  train.optimizer.lr: [0.001, 0.0001]\npluginOptions:\n  mixaugment: { forward: joint }\n',
    });
    const sweep = readSweepFile(path.join(dir, 'paper.sweep.yaml'));
    // vanilla: 2 dropouts x 3 seeds x 2 lr; the three others: 4 alphas x 2 x 3 x 2.
    expect(sweep.runs).toHaveLength(12 + 3 * 48);
    const names = sweep.runs.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('vanilla_dropout-none_seed-1_lr-0.001');
    expect(names).toContain('mixaugment+flip_alpha-0.6_dropout-0.5_seed-3_lr-0.0001');

    const run = sweep.runs.find((r) => r.name === 'mixaugment+flip_alpha-0.6_dropout-0.5_seed-3_lr-0.0001')!;
    expect(run.settings).toEqual({ method: 'mixaugment+flip', alpha: 0.6, dropout: 0.5, seed: 3, 'train.optimizer.lr': 0.0001 });
    // The base's flip entry is replaced by the method's; options from pluginOptions; dropout last.
    expect(run.config.plugins).toEqual([{ mixaugment: { forward: 'joint', alpha: 0.6 } }, { flip: {} }, { dropout: { rate: 0.5 } }]);
    expect(run.config.seed).toBe(3);
    expect((run.config.train as { optimizer: { lr: number } }).optimizer.lr).toBe(0.0001);
    // The run's config lives in the sweep folder, so the base's relative data root is made absolute.
    expect((run.config.data as { root: string }).root).toBe(path.join(dir, 'faces'));
    const vanilla = sweep.runs.find((r) => r.name === 'vanilla_dropout-none_seed-1_lr-0.001')!;
    expect(vanilla.settings.alpha).toBeNull();
    expect(vanilla.config.plugins).toEqual([]);
    // Every run's config is a valid fermix config.
    for (const r of sweep.runs.slice(0, 20)) expect(() => validateConfig(r.config, { baseDir: dir })).not.toThrow();
  });

  it('names the sweep file path, line and what was expected for a bad grid value', () => {
    const dir = project({ 'base.yaml': baseConfig(1, 2), 's.yaml': 'base: base.yaml\ngrid:\n  alpha: [0.2, -1]\n  dropout: [none, 1.5]\n' });
    let error: unknown;
    try {
      readSweepFile(path.join(dir, 's.yaml'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('grid.alpha[1]');
    expect(message).toContain('s.yaml:3:');
    expect(message).toContain('grid.dropout[1]');
    expect(message).toMatch(/dropout rate/);
    expect(dropoutRate('none')).toBeNull();
    expect(dropoutRate(0.5)).toBe(0.5);
    expect(dropoutRate(1)).toBeUndefined();
  });

  it('rejects an unknown key of the sweep file and a base config that is not there', () => {
    const dir = project({ 'base.yaml': baseConfig(1, 2), 's.yaml': 'base: base.yaml\ngird:\n  seed: [1]\n', 't.yaml': 'base: nothere.yaml\ngrid:\n  seed: [1]\n' });
    expect(() => readSweepFile(path.join(dir, 's.yaml'))).toThrow(/gird/);
    expect(() => readSweepFile(path.join(dir, 't.yaml'))).toThrow(/nothere\.yaml/);
  });
});

describe('fermix sweep', () => {
  it('runs the grid in parallel processes; killed with -9 and started again, it leaves finished runs alone and resumes the interrupted one from its checkpoint', async () => {
    const dir = project({
      'base.yaml': baseConfig(40, 24),
      's.sweep.yaml': 'base: base.yaml\ngrid:\n  method: [vanilla, mixup]\n  alpha: [0.2]\n  seed: [1]\n',
    });
    const out = path.join(dir, 'out');
    const first = path.join(out, 'runs/vanilla_seed-1');
    const second = path.join(out, 'runs/mixup_alpha-0.2_seed-1');

    // First attempt, one run at a time: kill -9 the sweep once the second run has a checkpoint.
    const sweep = spawn(tsx, ['--conditions=fermix-source', bin, 'sweep', '-c', 's.sweep.yaml', '--out', 'out', '--parallel', '1'], {
      cwd: dir,
      env: { ...process.env, CI: 'true' },
      stdio: 'ignore',
    });
    const deadline = Date.now() + 240_000;
    while (!existsSync(path.join(second, 'checkpoints/last/COMPLETE')) && Date.now() < deadline) await sleep(50);
    expect(existsSync(path.join(second, 'checkpoints/last/COMPLETE')), 'the second run never wrote a checkpoint').toBe(true);
    expect(existsSync(path.join(second, 'metrics.json')), 'the second run ended before the kill: the test cannot prove resumption').toBe(false);
    // tsx runs the CLI in a child node process: kill that process (the sweep itself) with -9.
    const sweepPids = spawnSync('pgrep', ['-P', String(sweep.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number).filter(Boolean);
    for (const pid of [...sweepPids, sweep.pid!]) process.kill(pid, 'SIGKILL');
    const firstMetrics = readFileSync(path.join(first, 'metrics.json'), 'utf8');
    const firstMtime = statSync(path.join(first, 'metrics.json')).mtimeMs;

    // The orphaned run notices its sweep is gone and stops after its step, keeping its checkpoint.
    const orphan = Number(readFileSync(path.join(second, '.pid'), 'utf8'));
    while (alive(orphan) && Date.now() < deadline) await sleep(50);
    expect(alive(orphan), 'the orphaned run did not stop').toBe(false);
    expect(readFileSync(path.join(second, 'train.out'), 'utf8')).toContain('the fermix sweep or worker that started this run is gone');
    const epochsBefore = readFileSync(path.join(second, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochsBefore.length).toBeGreaterThanOrEqual(1);
    expect(epochsBefore.length).toBeLessThan(40);

    // Second attempt: finishes the interrupted run from its checkpoint and touches nothing finished.
    const again = fermixSync(['sweep', '-c', 's.sweep.yaml', '--out', 'out', '--parallel', '2'], dir);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stderr).toContain('2 runs, 1 already finished, 1 to run');
    expect(again.stderr).toContain('resuming mixup_alpha-0.2_seed-1');
    expect(readFileSync(path.join(first, 'metrics.json'), 'utf8')).toBe(firstMetrics);
    expect(statSync(path.join(first, 'metrics.json')).mtimeMs).toBe(firstMtime);
    expect(readFileSync(path.join(second, 'train.out'), 'utf8')).toContain('resuming from');
    const epochs = readFileSync(path.join(second, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    // Every epoch once: the resumed run went on from the checkpoint, it did not start over.
    expect(epochs).toEqual([...Array(40).keys()]);
    const metrics = JSON.parse(readFileSync(path.join(second, 'metrics.json'), 'utf8'));
    expect(metrics.epochsRun).toBe(40);
    // The cores are split between the runs that train at once: all of them for one, half each for two.
    const cores = os.availableParallelism();
    expect(JSON.parse(firstMetrics)).toMatchObject({ threads: cores, threadsReason: `FERMIX_THREADS=${cores} (${cores} core${cores === 1 ? '' : 's'} shared by 1 run at a time)` });
    expect(metrics.threads).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(metrics.threadsReason).toMatch(/shared by 2 runs at a time/);
    expect(again.stderr).toContain(`each run's wasm backend gets ${Math.max(1, Math.floor(cores / 2))} thread(s)`);
    expect(metrics.history.map((h: { epoch: number }) => h.epoch)).toEqual([...Array(40).keys()]);

    const state = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8'));
    expect(state.runs.map((r: { name: string; status: string }) => [r.name, r.status])).toEqual([
      ['vanilla_seed-1', 'finished'],
      ['mixup_alpha-0.2_seed-1', 'finished'],
    ]);
    expect(state.runs[1].started).toBe('resumed');
    expect(state.runs[1].accuracy).toBe(metrics.accuracy);

    // The final table is complete: both runs, with the figures of their metrics.json.
    const reported = fermixSync(['report', 'out'], dir);
    expect(reported.code, reported.stderr).toBe(0);
    const csv = readFileSync(path.join(out, 'report/runs.csv'), 'utf8');
    expect(csv).toContain('vanilla_seed-1');
    expect(csv).toContain('mixup_alpha-0.2_seed-1');
    expect(csv).toContain((metrics.accuracy * 100).toFixed(4));
    expect(readFileSync(path.join(out, 'report/report.md'), 'utf8')).not.toMatch(/unfinished/i);

    // A third start has nothing left to do.
    const third = fermixSync(['sweep', '-c', 's.sweep.yaml', '--out', 'out'], dir);
    expect(third.code).toBe(0);
    expect(third.stderr).toContain('2 runs, 2 already finished, 0 to run');
    expect(readFileSync(path.join(first, 'metrics.json'), 'utf8')).toBe(firstMetrics);
  });

  it('Ctrl-C stops the runs after their step and exits 130, saying how to continue', async () => {
    const dir = project({ 'base.yaml': baseConfig(40, 24), 's.yaml': 'base: base.yaml\ngrid:\n  seed: [1, 2]\n' });
    const out = path.join(dir, 'out');
    const sweep = spawn(tsx, ['--conditions=fermix-source', bin, 'sweep', '-c', 's.yaml', '--out', 'out', '--parallel', '2'], {
      cwd: dir,
      env: { ...process.env, CI: 'true' },
    });
    let stderr = '';
    sweep.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => sweep.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 240_000;
    const checkpoint = (seed: number) => path.join(out, `runs/seed-${seed}/checkpoints/last/COMPLETE`);
    while (!(existsSync(checkpoint(1)) && existsSync(checkpoint(2))) && Date.now() < deadline) await sleep(50);
    // tsx forwards the signal to the node process that runs the sweep.
    sweep.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('continue with: fermix sweep -c s.yaml --out out');
    const state = JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8'));
    expect(state.runs.map((r: { status: string }) => r.status)).toEqual(['interrupted', 'interrupted']);
    for (const seed of [1, 2]) {
      const log = readFileSync(path.join(out, `runs/seed-${seed}/train.out`), 'utf8');
      expect(log).toContain('stopping after this step');
      expect(log).toContain('interrupted; continue with'); // it stopped on its own, after its step
      expect(existsSync(path.join(out, `runs/seed-${seed}/metrics.json`))).toBe(false);
    }
  });

  it('gives each run an even share of the cores through FERMIX_THREADS, unless the user set it', () => {
    expect(runThreadsEnv(2, {}, 8)).toEqual({ FERMIX_THREADS: '4', FERMIX_THREADS_WHY: '8 cores shared by 2 runs at a time' });
    expect(runThreadsEnv(3, {}, 2)).toEqual({ FERMIX_THREADS: '1', FERMIX_THREADS_WHY: '2 cores shared by 3 runs at a time' });
    expect(runThreadsEnv(1, {}, 1)).toEqual({ FERMIX_THREADS: '1', FERMIX_THREADS_WHY: '1 core shared by 1 run at a time' });
    expect(runThreadsEnv(2, { FERMIX_THREADS: '3' }, 8)).toEqual({});
  });

  it('gives each run memory growth on the GPU unless the user set it, and with --gpus a device by slot, round-robin', () => {
    expect(runGpuEnv(0, undefined, {})).toEqual({ TF_FORCE_GPU_ALLOW_GROWTH: 'true' });
    expect(runGpuEnv(1, undefined, { TF_FORCE_GPU_ALLOW_GROWTH: 'false' })).toEqual({});
    expect(runGpuEnv(0, ['0', '1'], {})).toEqual({ TF_FORCE_GPU_ALLOW_GROWTH: 'true', CUDA_VISIBLE_DEVICES: '0' });
    expect(runGpuEnv(3, ['0', '1'], { CUDA_VISIBLE_DEVICES: '5' })).toEqual({ TF_FORCE_GPU_ALLOW_GROWTH: 'true', CUDA_VISIBLE_DEVICES: '1' });
    expect(runGpuEnv(2, ['2'], { TF_FORCE_GPU_ALLOW_GROWTH: 'true' })).toEqual({ CUDA_VISIBLE_DEVICES: '2' });
    expect(parseGpus('0,1')).toEqual(['0', '1']);
    expect(parseGpus('GPU-8f3c2a1b-aaaa')).toEqual(['GPU-8f3c2a1b-aaaa']);
    expect(() => parseGpus('0,,1')).toThrow(UsageError);
    expect(() => parseGpus('cuda:0')).toThrow(/--gpus expects device indices separated by commas, e\.g\. --gpus 0,1 \(found "cuda:0"\)/);
  });

  it('a run whose process cannot start is recorded as failed with the reason, frees its slot, and the sweep goes on to the end', async () => {
    const dir = project({ 'base.yaml': baseConfig(1, 2), 's.yaml': 'base: base.yaml\ngrid:\n  seed: [1, 2, 3]\n' });
    const sweep = readSweepFile(path.join(dir, 's.yaml'));
    const missing = path.join(dir, 'no-such-train-command');
    const result = await runSweep({ sweep, out: path.join(dir, 'out'), parallel: 2, logger: createMemoryLogger(), trainCommand: [missing] }, () => false);
    expect(result.failed.map((r) => r.name)).toEqual(sweep.runs.map((r) => r.name));
    for (const r of result.failed) {
      expect(r.error).toContain(`could not start ${JSON.stringify(missing)}`);
      expect(r.error).toContain('ENOENT');
    }
    const state = JSON.parse(readFileSync(path.join(dir, 'out', 'sweep.json'), 'utf8')) as { runs: { status: string }[] };
    expect(state.runs.map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    for (const r of sweep.runs) expect(existsSync(path.join(dir, 'out', 'runs', r.name, '.pid'))).toBe(false);
  });

  it('each run\'s process receives TF_FORCE_GPU_ALLOW_GROWTH, and with --gpus a device no other run at the same time has', async () => {
    // A stand-in for `fermix train`: records its environment and its time span, writes metrics.json.
    const dir = project({
      'base.yaml': baseConfig(1, 2),
      's.yaml': 'base: base.yaml\ngrid:\n  seed: [1, 2, 3, 4, 5]\n',
      'fake-train.mjs': [
        "import { mkdirSync, writeFileSync } from 'node:fs';",
        "const out = process.argv[process.argv.indexOf('--out') + 1];",
        'const start = Date.now();',
        'await new Promise((r) => setTimeout(r, 300));',
        "const env = Object.fromEntries(['TF_FORCE_GPU_ALLOW_GROWTH', 'CUDA_VISIBLE_DEVICES', 'FERMIX_THREADS', 'FERMIX_SWEEP_RUN'].map((k) => [k, process.env[k] ?? null]));",
        "writeFileSync(out + '/env.json', JSON.stringify({ env, start, end: Date.now() }));",
        "writeFileSync(out + '/metrics.json', JSON.stringify({ accuracy: 1, macroF1: 1, averageAccuracy: 1, seconds: 0.3, cpuSeconds: 0.1 }));",
      ].join('\n'),
    });
    const sweep = readSweepFile(path.join(dir, 's.yaml'));
    const run = (out: string, gpus: string[] | undefined, env: NodeJS.ProcessEnv) =>
      runSweep({ sweep, out: path.join(dir, out), parallel: 2, logger: createMemoryLogger(), trainCommand: [process.execPath, path.join(dir, 'fake-train.mjs')], gpus, env }, () => false);
    const seen = (out: string) => sweep.runs.map((r) => JSON.parse(readFileSync(path.join(dir, out, 'runs', r.name, 'env.json'), 'utf8')) as { env: Record<string, string | null>; start: number; end: number });

    const pinned = await run('pinned', ['0', '1'], { TF_FORCE_GPU_ALLOW_GROWTH: '' });
    expect(pinned.failed).toEqual([]);
    const runs = seen('pinned');
    for (const r of runs) {
      expect(r.env.TF_FORCE_GPU_ALLOW_GROWTH).toBe('true');
      expect(['0', '1']).toContain(r.env.CUDA_VISIBLE_DEVICES);
    }
    expect(runs.map((r) => r.env.FERMIX_SWEEP_RUN)).toEqual(sweep.runs.map((r) => r.name));
    // Runs that overlapped in time never shared a device; both devices were used.
    for (const a of runs) for (const b of runs) if (a !== b && a.start < b.end && b.start < a.end) expect(a.env.CUDA_VISIBLE_DEVICES).not.toBe(b.env.CUDA_VISIBLE_DEVICES);
    expect(new Set(runs.map((r) => r.env.CUDA_VISIBLE_DEVICES))).toEqual(new Set(['0', '1']));
    // sweep.json says which device each run had.
    expect(pinned.state.runs.map((r) => r.gpu)).toEqual(runs.map((r) => r.env.CUDA_VISIBLE_DEVICES));

    // The user's own settings are left as they are; without --gpus, CUDA_VISIBLE_DEVICES is inherited.
    await run('user', undefined, { TF_FORCE_GPU_ALLOW_GROWTH: 'false', CUDA_VISIBLE_DEVICES: '3' });
    for (const r of seen('user')) expect(r.env).toMatchObject({ TF_FORCE_GPU_ALLOW_GROWTH: 'false', CUDA_VISIBLE_DEVICES: '3' });
  });

  it('a run whose loss diverges (lr 1e30) exits non-zero with the step and the likely cause, and the sweep records it as failed, not finished', async () => {
    const dir = project({
      'base.yaml': baseConfig(2, 8).replace('  batchSize: 8\n', '  batchSize: 8\n  optimizer: { name: sgd, lr: 1.0e+30 }\n'),
      's.yaml': 'base: base.yaml\ngrid:\n  seed: [1]\n',
    });
    // The sweep in this process; its run is the real `fermix train`, from the sources.
    const result = await runSweep(
      { sweep: readSweepFile(path.join(dir, 's.yaml')), out: path.join(dir, 'out'), parallel: 1, logger: createMemoryLogger(), trainCommand: [tsx, '--conditions=fermix-source', bin, 'train'] },
      () => false,
    );
    expect(result.failed.map((r) => r.name)).toEqual(['seed-1']);
    const state = JSON.parse(readFileSync(path.join(dir, 'out', 'sweep.json'), 'utf8'));
    expect(state.runs[0]).toMatchObject({ name: 'seed-1', status: 'failed', exitCode: 1 });
    expect(existsSync(path.join(dir, 'out', 'runs', 'seed-1', 'metrics.json'))).toBe(false);
    // The run's own message: the step, the likely cause, no stack trace.
    const trainOut = readFileSync(path.join(dir, 'out', 'runs', 'seed-1', 'train.out'), 'utf8');
    // The loss, or (when the loss read was finite but the weights are not) the weights, by step.
    expect(trainOut).toMatch(/fermix: (loss became (NaN|Infinity|-Infinity) at|weights became NaN or infinite by) epoch \d+, step \d+ \(step \d+ of the run\)/);
    expect(trainOut).toContain('learning rate (1e+30 at that step) is too high');
    expect(trainOut).not.toMatch(/^\s+at /m);
    expect(state.runs[0].error).toMatch(/(loss|weights) became/);
  });

  it('refuses to start while another sweep holds the folder', () => {
    const dir = project({ 'base.yaml': baseConfig(1, 2), 's.yaml': 'base: base.yaml\ngrid:\n  seed: [1]\n' });
    const holder = spawn('sleep', ['30']);
    try {
      const out = path.join(dir, 'out');
      spawnSync('mkdir', ['-p', out]);
      writeFileSync(path.join(out, '.sweep.lock'), String(holder.pid));
      const r = fermixSync(['sweep', '-c', 's.yaml', '--out', 'out'], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`another fermix sweep (pid ${holder.pid}) is running`);
    } finally {
      holder.kill();
    }
  });
});
