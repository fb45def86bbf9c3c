import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkConnection,
  jobIdOf,
  parseQueueUrl,
  redact,
  RunQueue,
  runJobProblem,
  startRunWorker,
  sweepIdOf,
  withRedisLock,
  type RunJobData,
} from '../src/index.js';
import { hasRedis, REDIS_SERVER, startRedis, type TestRedis } from '../../../test-support/redis-server.js';

const PASSWORD = 'p@ss/w0rd:x';

describe('the queue address', () => {
  it('reads redis:// and rediss:// URLs; the password comes from the URL or FERMIX_REDIS_PASSWORD and shows nowhere', () => {
    const plain = parseQueueUrl('redis://queue.lab:6380/2', {});
    expect(plain.options).toMatchObject({ host: 'queue.lab', port: 6380, db: 2, maxRetriesPerRequest: null });
    expect(plain.options.password).toBeUndefined();
    expect(plain.options.tls).toBeUndefined();
    expect(plain.where).toBe('redis://queue.lab:6380/2');

    const url = parseQueueUrl(`rediss://:${encodeURIComponent(PASSWORD)}@queue.lab/0`, {});
    expect(url.options).toMatchObject({ host: 'queue.lab', port: 6379, db: 0, password: PASSWORD, tls: { servername: 'queue.lab' } });
    expect(url.where).toBe('rediss://:***@queue.lab/0');
    expect(redact(`AUTH ${PASSWORD} and ${encodeURIComponent(PASSWORD)}`, url)).toBe('AUTH *** and ***');

    const env = parseQueueUrl('redis://queue.lab', { FERMIX_REDIS_PASSWORD: PASSWORD });
    expect(env.options.password).toBe(PASSWORD);
    expect(env.where).toBe('redis://:***@queue.lab/0');
    const user = parseQueueUrl('redis://fermix:secret@queue.lab:6379/1', { FERMIX_REDIS_PASSWORD: 'other' });
    expect(user.options).toMatchObject({ username: 'fermix', password: 'secret', db: 1 });
    expect(user.where).toBe('redis://fermix:***@queue.lab:6379/1');
  });

  it('names what is wrong with a URL it cannot use, without its password', () => {
    expect(() => parseQueueUrl('http://queue.lab:6379', {})).toThrow(/--queue expects redis:\/\/.*got a http:\/\/ address/);
    expect(() => parseQueueUrl('redis://queue.lab:6379/zero', {})).toThrow(/database after the host must be a number/);
    let message = '';
    try {
      parseQueueUrl('queue.lab:secret@:x', {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/--queue expects/);
  });
});

describe('jobs', () => {
  it('one id per sweep folder and run name; job data is checked before a worker acts on it', () => {
    const id = sweepIdOf('/shared/sweeps/paper table3');
    expect(id).toMatch(/^paper-table3-[0-9a-f]{10}$/);
    expect(sweepIdOf('/shared/sweeps/paper table3')).toBe(id);
    expect(sweepIdOf('/other/sweeps/paper table3')).not.toBe(id);
    expect(jobIdOf(id, 'mixup_alpha-0.2_seed-1')).toBe(`${id}/mixup_alpha-0.2_seed-1`);
    const good: RunJobData = { schema: 'fermix-run/1', sweep: id, out: '/shared/sweeps/x', run: 'mixup_alpha-0.2_seed-1', settings: { method: 'mixup', alpha: 0.2, seed: 1 } };
    expect(runJobProblem(good)).toBeUndefined();
    expect(runJobProblem({ ...good, run: '../../etc' })).toMatch(/run folder name/);
    expect(runJobProblem({ ...good, out: 'relative/path' })).toMatch(/absolute path/);
    expect(runJobProblem({ ...good, settings: { plugin: { code: 'x' } } })).toMatch(/settings.plugin/);
    expect(runJobProblem({ ...good, schema: 'other' })).toMatch(/fermix-run\/1/);
  });
});

if (!hasRedis && process.env.CI) {
  it('needs redis-server for the queue tests', () => {
    throw new Error(`${REDIS_SERVER} not found: redis-server must be installed on CI (apt-get install -y redis-server)`);
  });
} else if (!hasRedis) {
  console.warn(`skipping the Redis tests of @fermix/queue: ${REDIS_SERVER} not found (apt-get install -y redis-server)`);
}

describe.skipIf(!hasRedis)('on a real Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD });
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('refuses a wrong or missing password and an address where nothing listens, saying so', async () => {
    await expect(checkConnection(parseQueueUrl(redis.url('wrong'), {}))).rejects.toThrow(
      `Redis at redis://:***@127.0.0.1:${redis.port}/0 refused the password`,
    );
    await expect(checkConnection(parseQueueUrl(redis.url(), {}))).rejects.toThrow(/needs a password/);
    await expect(checkConnection(parseQueueUrl(redis.url(), { FERMIX_REDIS_PASSWORD: PASSWORD }))).resolves.toMatchObject({ redisVersion: expect.stringMatching(/^\d+\./) });
    await redis.stop();
    try {
      await expect(checkConnection(parseQueueUrl(redis.url(PASSWORD), {}))).rejects.toThrow(/cannot reach Redis at .*connection refused/);
    } finally {
      await redis.start();
    }
  });

  it('enqueues a run once however often it is enqueued; a failed job is retried with backoff, then failed, and enqueued again from its first attempt', async () => {
    const connection = parseQueueUrl(redis.url(PASSWORD), {});
    const queue = await RunQueue.open(connection, 'unit');
    const sweep = sweepIdOf('/shared/unit');
    const runs: RunJobData[] = ['seed-1', 'seed-2'].map((run) => ({ schema: 'fermix-run/1', sweep, out: '/shared/unit', run, settings: { seed: Number(run.slice(-1)) } }));
    const attempts: string[] = [];
    // What a run folder with metrics.json is to fermix: the runs that succeeded.
    const done = new Set<string>();
    const isFinished = (run: RunJobData) => done.has(run.run);
    const logged: string[] = [];
    let settled = 0;
    // Both enqueues before any worker runs: enqueued twice while waiting, a run is one job. (With the
    // worker already running, the second enqueue could meet seed-2 failed once and waiting out its
    // backoff, and the attempt count would depend on that timing.)
    expect(await queue.enqueue(runs, { maxAttempts: 3, backoffSeconds: 0.1 }, isFinished)).toEqual({ added: ['seed-1', 'seed-2'], queued: [], retried: [] });
    const again = await queue.enqueue(runs, { maxAttempts: 3, backoffSeconds: 0.1 }, isFinished);
    expect(again).toEqual({ added: [], queued: ['seed-1', 'seed-2'], retried: [] });
    const worker = await startRunWorker({
      connection,
      queue: 'unit',
      name: 'unit-worker',
      concurrency: 1,
      lockSeconds: 5,
      log: (level, message) => logged.push(`${level}: ${message}`),
      onSettled: () => settled++,
      run: async (run) => {
        attempts.push(`${run.data.run}#${run.attempt}`);
        if (run.data.run === 'seed-2') throw new Error(`no luck on attempt ${run.attempt}`);
        done.add(run.data.run);
        return { ok: true };
      },
    });
    try {
      const deadline = Date.now() + 60_000;
      let views = await queue.jobsOf(sweep, ['seed-1', 'seed-2']);
      while (views.get('seed-2')?.state !== 'failed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        views = await queue.jobsOf(sweep, ['seed-1', 'seed-2']);
      }
      expect(views.get('seed-1')).toMatchObject({ state: 'completed', worker: 'unit-worker', attemptsMade: 1 });
      expect(views.get('seed-2')).toMatchObject({ state: 'failed', attemptsMade: 3, maxAttempts: 3, failedReason: 'no luck on attempt 3' });
      expect(attempts.filter((a) => a.startsWith('seed-2'))).toEqual(['seed-2#1', 'seed-2#2', 'seed-2#3']);
      expect(logged.filter((l) => l.startsWith('warn: ') && l.includes('retried after a backoff'))).toHaveLength(2);
      expect(logged.some((l) => l.startsWith('error: ') && l.includes('attempt 3 of 3 failed: no luck on attempt 3; marked failed'))).toBe(true);
      expect(settled).toBe(4);
      expect(await queue.queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed')).toMatchObject({ completed: 1, failed: 1, waiting: 0, active: 0, delayed: 0 });

      // Enqueued again: the failed run gets all its attempts back; the completed one stays as it is.
      const third = await queue.enqueue(runs, { maxAttempts: 3, backoffSeconds: 0.1 }, isFinished);
      expect(third).toEqual({ added: [], queued: ['seed-1'], retried: ['seed-2'] });
      while (attempts.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(attempts[4]).toBe('seed-2#1');
    } finally {
      await worker.close();
      await queue.queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('speaks TLS (rediss://) with a certificate authority of its own from FERMIX_REDIS_CA, and runs a job through it', async () => {
    const secure = await startRedis({ password: PASSWORD, tls: true });
    try {
      const url = secure.url(PASSWORD);
      expect(url).toMatch(/^rediss:\/\//);
      await expect(checkConnection(parseQueueUrl(url, {}))).rejects.toThrow(/TLS failed .*FERMIX_REDIS_CA/);
      expect(() => parseQueueUrl(url, { FERMIX_REDIS_CA: '/nonexistent/ca.pem' })).toThrow(/FERMIX_REDIS_CA=\/nonexistent\/ca.pem: cannot read the certificate authority's file \(ENOENT\)/);
      const connection = parseQueueUrl(url, { FERMIX_REDIS_CA: secure.certificate });
      await expect(checkConnection(connection)).resolves.toMatchObject({ redisVersion: expect.any(String) });
      const queue = await RunQueue.open(connection, 'tls');
      let ran = '';
      const worker = await startRunWorker({ connection, queue: 'tls', concurrency: 1, lockSeconds: 5, log: () => {}, run: async (run) => void (ran = run.data.run) });
      try {
        const sweep = sweepIdOf('/shared/tls');
        await queue.enqueue([{ schema: 'fermix-run/1', sweep, out: '/shared/tls', run: 'seed-1', settings: { seed: 1 } }], { maxAttempts: 1, backoffSeconds: 1 }, () => false);
        const deadline = Date.now() + 60_000;
        while ((await queue.jobsOf(sweep, ['seed-1'])).get('seed-1')?.state !== 'completed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(ran).toBe('seed-1');
      } finally {
        await worker.close();
        await queue.close();
      }
    } finally {
      await secure.dispose();
    }
  });

  it('takes turns on a sweep lock', async () => {
    const queue = await RunQueue.open(parseQueueUrl(redis.url(PASSWORD), {}), 'unit-lock');
    try {
      const client = (await queue.queue.client) as unknown as Redis;
      const order: string[] = [];
      const hold = (name: string) =>
        withRedisLock(client, 'unit-lock:sweep', async () => {
          order.push(`${name} in`);
          await new Promise((r) => setTimeout(r, 100));
          order.push(`${name} out`);
        }, 5000);
      await Promise.all([hold('a'), hold('b')]);
      expect([order.slice(0, 2), order.slice(2)].map((pair) => pair[0].split(' ')[0] === pair[1].split(' ')[0])).toEqual([true, true]);
    } finally {
      await queue.close();
    }
  });
});
