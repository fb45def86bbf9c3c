/**
 * Sweeps through a real Redis (redis-server on its own port) and real `fermix worker` processes:
 * spread over three workers, a worker killed with -9, a stalled worker coming back, Redis restarted,
 * Ctrl-C, a failing run, a duplicate enqueue, a wrong password. No mock of Redis or BullMQ.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseQueueUrl, RunQueue, sweepIdOf } from '@fermix/queue';
import { hasRedis, REDIS_SERVER, startRedis, type TestRedis } from '../../../test-support/redis-server.js';
import { tinyRunConfig } from '../../../test-support/tiny-run.js';
import { alive } from '../../../test-support/processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
// One node process per fermix command (tsx as a loader, not a wrapper process): its pid is the worker's.
const node = [process.execPath, '--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href, '--conditions=fermix-source', bin];
const PASSWORD = 'Qx7-queue-pa55word';

const baseConfig = (epochs: number, perClass: number) => tinyRunConfig({ epochs, perClass, threads: 1 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The test's environment without a queue password of its own (each call says where the password comes from). */
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete e.FERMIX_REDIS_PASSWORD;
  return { ...e, ...extra };
};

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-queue-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function fermix(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(node[0], [...node.slice(1), ...args], { cwd, encoding: 'utf8', env: env(extraEnv), timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

const started: ChildProcess[] = [];

function startFermix(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(node[0], [...node.slice(1), ...args], { cwd, env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 240_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The epochs in a run's log.jsonl, in order. */
function epochsOf(runDir: string): number[] {
  const epochs: number[] = [];
  for (const line of read(path.join(runDir, 'log.jsonl')).split('\n')) {
    try {
      epochs.push(JSON.parse(line).epoch);
    } catch {
      // an empty line, or one being written
    }
  }
  return epochs;
}

/** The worker lines a run's train.out has, e.g. ["w1", "w2"]: which worker started each attempt. */
function attemptsOf(runDir: string): string[] {
  return [...read(path.join(runDir, 'train.out')).matchAll(/^\[fermix worker\] (\S+): job/gm)].map((m) => m[1]);
}

/** The `fermix train` processes a worker started (its children). */
function childrenOf(pid: number): number[] {
  return spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
}

/** Every file under `dir` whose name is one of `names`. */
function filesNamed(dir: string, names: string[]): string[] {
  const found: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (names.includes(e.name)) found.push(p);
    }
  };
  visit(dir);
  return found;
}

if (!hasRedis && process.env.CI) {
  it('needs redis-server for the queue tests', () => {
    throw new Error(`${REDIS_SERVER} not found: redis-server must be installed on CI (apt-get install -y redis-server)`);
  });
} else if (!hasRedis) {
  console.warn(`skipping the queue tests: ${REDIS_SERVER} not found (apt-get install -y redis-server)`);
}

describe.skipIf(!hasRedis)('fermix sweep --queue and fermix worker, on a real Redis', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD });
  });

  // A test that failed half-way leaves no worker behind to take the next test's jobs.
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  afterAll(async () => {
    await redis?.dispose();
  });

  it('spreads a sweep over three workers in their own folders and ends as the local sweep does; enqueued twice it has one job per run; a failing run is retried, then marked failed; the password shows nowhere', async () => {
    const dir = project({
      'base.yaml': baseConfig(2, 4),
      's.sweep.yaml': 'base: base.yaml\ngrid:\n  method: [vanilla, mixup, mixaugment+flip]\n  alpha: [0.2]\n  seed: [1]\n',
      'bad.sweep.yaml': 'base: base.yaml\ngrid:\n  train.batchSize: [0]\n',
    });
    const shared = path.join(dir, 'shared');
    const out = path.join(shared, 's');
    const bad = path.join(shared, 'bad');
    const url = redis.url(PASSWORD);
    const fromEnv = { FERMIX_REDIS_PASSWORD: PASSWORD };

    // The same sweep run here, the usual way, for the comparison at the end.
    const local = startFermix(['sweep', '-c', 's.sweep.yaml', '--out', 'local'], dir);

    const workers = [1, 2, 3].map((i) => {
      const cwd = mkdtempSync(path.join(os.tmpdir(), `fermix-worker-${i}-`));
      return startFermix(['worker', '--queue', url, '--name', `w${i}`, '--lock-seconds', '5'], cwd);
    });
    await until(() => workers.every((w) => w.output().includes('takes runs from')), 'the three workers are ready');
    expect(workers[0].output()).toContain(`takes runs from redis://:***@127.0.0.1:${redis.port}/0`);

    // Enqueued twice (the password from the environment): one job per run.
    const first = fermix(['sweep', '-c', 's.sweep.yaml', '--out', out, '--queue', redis.url()], dir, fromEnv);
    expect(first.code, first.all).toBe(0);
    expect(first.stdout).toContain('3 runs: 0 finished, 3 enqueued, 0 already queued');
    const second = fermix(['sweep', '-c', 's.sweep.yaml', '--out', out, '--queue', redis.url()], dir, fromEnv);
    expect(second.code, second.all).toBe(0);
    expect(second.stdout).toMatch(/3 runs: \d finished, 0 enqueued, \d already queued, 0 enqueued again/);
    const failing = fermix(['sweep', '-c', 'bad.sweep.yaml', '--out', bad, '--queue', url, '--max-attempts', '2', '--backoff', '0.5'], dir);
    expect(failing.code, failing.all).toBe(0);

    const queue = await RunQueue.open(parseQueueUrl(url));
    try {
      const ids = (await queue.queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed'])).map((j) => j.id).sort();
      const sweep = sweepIdOf(out);
      expect(ids).toEqual([`${sweep}/mixaugment+flip_alpha-0.2_seed-1`, `${sweep}/mixup_alpha-0.2_seed-1`, `${sweep}/vanilla_seed-1`, `${sweepIdOf(bad)}/batchSize-0`].sort());

      await until(async () => {
        const jobs = await queue.jobsOf(sweepIdOf(bad), ['batchSize-0']);
        return jobs.get('batchSize-0')?.state === 'failed' && readdirSync(path.join(out, 'runs')).every((r) => existsSync(path.join(out, 'runs', r, 'metrics.json')));
      }, 'the three runs finished and the failing one failed for good');
    } finally {
      await queue.close();
    }

    // --status: every run finished, each by another worker; sweep.json says the same.
    const status = fermix(['sweep', '-c', 's.sweep.yaml', '--out', out, '--queue', url, '--status'], dir);
    expect(status.code, status.all).toBe(0);
    expect(status.stdout).toMatch(/finished\s+vanilla_seed-1\s+accuracy [\d.]+%/);
    expect(status.stdout).toContain('3 runs: 3 finished, 0 active, 0 waiting, 0 failed');
    const state = JSON.parse(read(path.join(out, 'sweep.json')));
    expect(state.queue.where).toBe(`redis://:***@127.0.0.1:${redis.port}/0`);
    expect(new Set(state.runs.map((r: { worker: string }) => r.worker))).toEqual(new Set(['w1', 'w2', 'w3']));

    // The failing run: two attempts, then failed, with the end of its output.
    const badStatus = fermix(['sweep', '-c', 'bad.sweep.yaml', '--out', bad, '--queue', url, '--status'], dir);
    expect(badStatus.stdout).toMatch(/failed\s+batchSize-0\s+after 2 attempt\(s\): fermix train exited with 2/);
    const badState = JSON.parse(read(path.join(bad, 'sweep.json')));
    expect(badState.runs[0]).toMatchObject({ name: 'batchSize-0', status: 'failed', attempts: 2 });
    expect(badState.runs[0].error).toContain('train.batchSize');
    expect(attemptsOf(path.join(bad, 'runs/batchSize-0'))).toHaveLength(2);
    expect(read(path.join(bad, 'runs/batchSize-0/train.out'))).toMatch(/attempt 1 of 2[\s\S]*attempt 2 of 2/);

    // Ctrl-C on an idle worker: it stops, nothing to give back.
    for (const w of workers) w.child.kill('SIGINT');
    for (const w of workers) expect(await w.exited, w.output()).toBe(0);

    // The same sweep.json records and figures, and the same report, as the local sweep.
    expect(await local.exited, local.output()).toBe(0);
    const localState = JSON.parse(read(path.join(dir, 'local/sweep.json')));
    const stable = (s: { runs: Record<string, unknown>[] }) =>
      s.runs.map(({ name, settings, dir: d, config, status: st, accuracy, macroF1, averageAccuracy }) => ({ name, settings, dir: d, config, status: st, accuracy, macroF1, averageAccuracy }));
    expect(stable(state)).toEqual(stable(localState));
    for (const run of state.runs as { dir: string }[]) {
      const history = (folder: string) => JSON.parse(read(path.join(folder, run.dir, 'metrics.json'))).history.map(({ seconds, imagesPerSecond, dataWaitShare, ...h }: Record<string, unknown>) => h);
      expect(history(out)).toEqual(history(path.join(dir, 'local')));
    }
    for (const folder of [out, path.join(dir, 'local')]) {
      const r = fermix(['report', folder], dir);
      expect(r.code, r.all).toBe(0);
    }
    const csvs = readdirSync(path.join(out, 'report')).filter((f) => f.endsWith('.csv'));
    expect(csvs).toContain('runs.csv');
    for (const csv of csvs) {
      // runs.csv has each run's seconds (its last column but one): everything else is equal.
      const rows = (folder: string) => read(path.join(folder, 'report', csv)).trim().split('\n').map((l) => (csv === 'runs.csv' ? l.split(',').slice(0, -2).join(',') : l));
      expect(rows(out), csv).toEqual(rows(path.join(dir, 'local')));
    }

    // The password is in no log, sweep.json, run output or message.
    const texts = [...workers.map((w) => w.output()), first.all, second.all, failing.all, status.all, badStatus.all];
    for (const file of filesNamed(shared, ['sweep.json', 'train.out', 'config.yaml'])) texts.push(read(file));
    for (const text of texts) expect(text).not.toContain(PASSWORD);
  }, 600_000);

  it('a worker killed with -9, a frozen worker coming back, Redis restarted, Ctrl-C: each run resumes where it stopped and logs every epoch once', async () => {
    // Enough epochs that no run ends before the last event (each wait below fails at once if one did).
    const epochs = 60;
    const dir = project({ 'base.yaml': baseConfig(epochs, 16), 'k.sweep.yaml': 'base: base.yaml\ngrid:\n  seed: [1, 2]\n' });
    const out = path.join(dir, 'shared/k');
    const runs = ['seed-1', 'seed-2'].map((r) => path.join(out, 'runs', r));
    const url = redis.url(PASSWORD);
    const worker = (name: string) => startFermix(['worker', '--queue', url, '--name', name, '--concurrency', '2', '--lock-seconds', '2'], dir);
    const progressed = (counts: number[]) => {
      for (const r of runs) if (existsSync(path.join(r, 'metrics.json'))) throw new Error(`${r} finished too early: the test cannot prove resumption`);
      return runs.every((r, i) => epochsOf(r).length > counts[i]);
    };
    const notDone = (when: string) => {
      for (const r of runs) expect(existsSync(path.join(r, 'metrics.json')), `${r} finished before ${when}: the test cannot prove resumption`).toBe(false);
    };
    expect(fermix(['sweep', '-c', 'k.sweep.yaml', '--out', out, '--queue', url], dir).code).toBe(0);

    // 1. w1 trains both runs; kill -9 it once each has a checkpoint. Its runs stop after their step.
    const w1 = worker('w1');
    await until(() => progressed([0, 0]), 'w1 trained an epoch of each run');
    const w1Runs = childrenOf(w1.child.pid!);
    expect(w1Runs).toHaveLength(2);
    w1.child.kill('SIGKILL');
    await until(() => w1Runs.every((pid) => !alive(pid)), "w1's runs stopped");
    notDone('the kill');
    for (const r of runs) expect(read(path.join(r, 'train.out'))).toContain('the fermix sweep or worker that started this run is gone');

    // 2. w2 gets both jobs once they are seen as stalled, and resumes them from their checkpoints.
    const w2 = worker('w2');
    await until(() => runs.every((r) => attemptsOf(r).join() === 'w1,w2'), 'w2 took both runs over');
    const atW2 = runs.map((r) => epochsOf(r).length);
    await until(() => progressed(atW2), 'w2 trained an epoch of each run');
    for (const r of runs) expect(read(path.join(r, 'train.out'))).toContain('resuming from');
    // --status: both active on w2, in an epoch; sweep.json says the same.
    const active = fermix(['sweep', '-c', 'k.sweep.yaml', '--out', out, '--queue', url, '--status'], dir);
    expect(active.stdout).toMatch(new RegExp(`active\\s+seed-1\\s+on w2, epoch \\d+/${epochs}`));
    expect(active.stdout).toMatch(new RegExp(`active\\s+seed-2\\s+on w2, epoch \\d+/${epochs}`));
    expect(JSON.parse(read(path.join(out, 'sweep.json'))).runs[0]).toMatchObject({ status: 'running', worker: 'w2', epochs });

    // 3. Redis stops and starts again under the running worker.
    await redis.stop();
    await sleep(500);
    await redis.start();
    const afterRestart = runs.map((r) => epochsOf(r).length);
    await until(() => progressed(afterRestart), 'the runs went on after the restart');
    notDone('w2 was frozen');

    // 4. w2 and its runs freeze (SIGSTOP); w3 takes the jobs over. Thawed, w2's runs find the run
    //    folders locked for w3's attempts and stop without writing.
    const w2Runs = childrenOf(w2.child.pid!);
    for (const pid of [w2.child.pid!, ...w2Runs]) process.kill(pid, 'SIGSTOP');
    const w3 = worker('w3');
    await until(() => runs.every((r) => attemptsOf(r).at(-1) === 'w3'), 'w3 took both runs over from the frozen w2');
    await until(() => childrenOf(w3.child.pid!).length === 2, "w3's runs started");
    for (const pid of [w2.child.pid!, ...w2Runs]) process.kill(pid, 'SIGCONT');
    await until(() => w2Runs.every((pid) => !alive(pid)), "w2's runs stopped");
    for (const r of runs) expect(read(path.join(r, 'train.out'))).toContain('is no longer this process');

    // 5. Ctrl-C on w3: its runs stop after their step and go back to the queue, where w2 takes them.
    await until(() => runs.every((r) => read(path.join(r, 'train.out')).split('[fermix worker] w3').at(-1)!.includes('resuming from')), "w3's runs resumed");
    w3.child.kill('SIGINT');
    expect(await w3.exited, w3.output()).toBe(130);
    expect(w3.output()).toContain('back in the queue');
    await until(() => runs.every((r) => existsSync(path.join(r, 'metrics.json'))), 'both runs finished');

    for (const r of runs) {
      expect(attemptsOf(r)).toEqual(['w1', 'w2', 'w3', 'w2']);
      // Every epoch once, in order, in the log and in metrics.json: nothing lost, nothing done twice.
      expect(epochsOf(r)).toEqual([...Array(epochs).keys()]);
      const metrics = JSON.parse(read(path.join(r, 'metrics.json')));
      expect(metrics.history.map((h: { epoch: number }) => h.epoch)).toEqual([...Array(epochs).keys()]);
    }
    // Once their jobs completed, no run folder keeps a lock.
    const queue = await RunQueue.open(parseQueueUrl(url));
    try {
      await until(async () => [...(await queue.jobsOf(sweepIdOf(out), ['seed-1', 'seed-2'])).values()].every((j) => j.state === 'completed'), 'both jobs completed', 60_000);
    } finally {
      await queue.close();
    }
    for (const r of runs) expect(existsSync(path.join(r, '.lock'))).toBe(false);
    await until(async () => fermix(['sweep', '-c', 'k.sweep.yaml', '--out', out, '--queue', url, '--status'], dir).stdout.includes('2 runs: 2 finished'), 'the status says both finished', 60_000);
    const state = JSON.parse(read(path.join(out, 'sweep.json')));
    expect(state.runs.map((r: { status: string; worker: string }) => [r.status, r.worker])).toEqual([
      ['finished', 'w2'],
      ['finished', 'w2'],
    ]);
    w2.child.kill('SIGINT');
    expect(await w2.exited, w2.output()).toBe(0);
  }, 600_000);

  it('refuses a wrong password, and a folder the worker cannot see, with a message that says what to do', async () => {
    const dir = project({});
    const wrong = fermix(['worker', '--queue', redis.url('not-the-password')], dir);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`fermix: Redis at redis://:***@127.0.0.1:${redis.port}/0 refused the password`);
    expect(wrong.stderr).not.toContain('not-the-password');
    const missingPassword = fermix(['worker', '--queue', redis.url()], dir);
    expect(missingPassword.code).toBe(2);
    expect(missingPassword.stderr).toContain('needs a password: put it in the URL (redis://:password@host:6379/0) or in FERMIX_REDIS_PASSWORD');

    // A job whose sweep folder is not on this machine: the worker refuses to start. (Database 1:
    // a queue of its own.)
    const db1 = redis.url(PASSWORD).replace(/\/0$/, '/1');
    const queue = await RunQueue.open(parseQueueUrl(db1));
    const missing = path.join(dir, 'not-mounted/sweep');
    try {
      await queue.enqueue([{ schema: 'fermix-run/1', sweep: sweepIdOf(missing), out: missing, run: 'seed-1', settings: { seed: 1 } }], { maxAttempts: 1, backoffSeconds: 1 }, () => false);
      const refused = fermix(['worker', '--queue', db1], dir);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`does not see the sweep folder ${missing}`);
      expect(refused.stderr).toContain('shared storage');
    } finally {
      await queue.queue.obliterate({ force: true });
      await queue.close();
    }
  }, 120_000);
});
