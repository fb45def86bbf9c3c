/**
 * The wasm backend on threads. The thread count is fixed per process, so each case runs
 * fixtures/threads-child.ts in a process of its own and reads the JSON line it prints.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveThreads, splitCores } from '../src/backend/wasm.js';
import { Rng } from '../src/rng.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const child = path.join(here, 'fixtures/threads-child.ts');

interface ChildOutput {
  info: { threads: number; requested: number | 'auto'; reason: string; fallback?: string };
  hashes: Record<string, string>;
}

function runChild(env: Record<string, string>): { out: ChildOutput; status: number | null; signal: string | null; stderr: string } {
  const r = spawnSync(tsx, ['--conditions=fermix-source', child], {
    cwd: root,
    encoding: 'utf8',
    // No FERMIX_THREADS from the caller's environment: each case says what it wants.
    env: { ...process.env, FERMIX_THREADS: '', ...env },
    // A hang detector, not a speed bound: a start that hangs would otherwise hang the suite.
    timeout: 240_000,
  });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let out: ChildOutput;
  try {
    out = JSON.parse(line);
  } catch {
    throw new Error(`the child printed no result (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  }
  return { out, status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('thread counts', () => {
  it('a number is taken as it is; auto takes FERMIX_THREADS, else every core', () => {
    expect(resolveThreads(3, {}, 8)).toMatchObject({ threads: 3, reason: 'threads: 3 was asked for (8 cores available)' });
    expect(resolveThreads(0, {}, 8).threads).toBe(1);
    expect(resolveThreads('auto', {}, 8)).toEqual({ threads: 8, reason: 'every core: 8 available' });
    expect(resolveThreads(undefined, {}, 2).threads).toBe(2);
    expect(resolveThreads('auto', { FERMIX_THREADS: '4', FERMIX_THREADS_WHY: '8 cores shared by 2 runs' }, 8)).toEqual({
      threads: 4,
      reason: 'FERMIX_THREADS=4 (8 cores shared by 2 runs)',
    });
    // A count in the config wins over the environment; a malformed FERMIX_THREADS is ignored.
    expect(resolveThreads(2, { FERMIX_THREADS: '4' }, 8).threads).toBe(2);
    for (const bad of ['0', '-1', '1.5', 'many']) expect(resolveThreads('auto', { FERMIX_THREADS: bad }, 6).threads).toBe(6);
  });

  it('runs side by side share the cores evenly, at least one thread each', () => {
    expect(splitCores(1, 16)).toBe(16);
    expect(splitCores(2, 16)).toBe(8);
    expect(splitCores(3, 16)).toBe(5);
    expect(splitCores(4, 2)).toBe(1);
    expect(splitCores(0, 4)).toBe(4);
  });
});

describe('the threaded wasm backend', () => {
  const reference = runChild({ FERMIX_CHILD_THREADS: '1' });

  it('one thread runs the single-thread build, and the process ends by itself', () => {
    expect(reference.status).toBe(0);
    expect(reference.signal).toBeNull();
    expect(reference.out.info.threads).toBe(1);
    expect(reference.out.info.fallback).toBeUndefined();
    expect(Object.keys(reference.out.hashes).length).toBeGreaterThan(20);
  });

  it.each([2, 3])('on %i threads every registered kernel and a training step are bit-identical to one thread, and the process ends by itself', (threads) => {
    const r = runChild({ FERMIX_CHILD_THREADS: String(threads) });
    expect(r.status).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.out.info.threads).toBe(threads);
    expect(r.out.info.fallback).toBeUndefined();
    expect(r.out.hashes).toEqual(reference.out.hashes);
  });

  it('a start that does not finish in time falls back to one thread with the reason, and still computes the same', () => {
    const r = runChild({ FERMIX_CHILD_THREADS: '2', FERMIX_CHILD_TIMEOUT_MS: '1' });
    expect(r.status).toBe(0);
    expect(r.out.info.threads).toBe(1);
    expect(r.out.info.fallback).toMatch(/could not start 2 threads \(the wasm thread pool did not start within 1 ms\); running on 1/);
    expect(r.out.hashes).toEqual(reference.out.hashes);
  });

  it('a pool worker killed at a random moment of the start-up: threads or a fallback to one, never a hang or a crash', () => {
    const seed = Number(process.env.FERMIX_FUZZ_SEED ?? 20261202);
    const rng = new Rng(seed);
    const outcomes: string[] = [];
    for (let trial = 0; trial < 6; trial++) {
      // Start-up takes a few hundred ms: kill within it, and sometimes at once.
      const killAfterMs = trial === 0 ? 0 : Math.floor(rng.uniform() * 600);
      const r = runChild({ FERMIX_CHILD_THREADS: '2', FERMIX_CHILD_ONLY: 'start', FERMIX_CHILD_KILL_WORKER_MS: String(killAfterMs) });
      const context = `seed ${seed}, trial ${trial}, worker killed after ${killAfterMs} ms`;
      expect(r.status, context).toBe(0);
      expect([1, 2], context).toContain(r.out.info.threads);
      if (r.out.info.threads === 1) expect(r.out.info.fallback, context).toMatch(/could not start 2 threads/);
      expect(r.out.hashes.conv2d, context).toBe(reference.out.hashes.conv2d);
      outcomes.push(`${killAfterMs} ms -> ${r.out.info.threads} thread(s)`);
    }
    // The immediate kill always lands before the pool is up.
    expect(outcomes[0]).toBe('0 ms -> 1 thread(s)');
  });

  it('a process killed (SIGKILL) at random moments of the start-up leaves no file behind, and the next start works', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fermix-threads-tmp-'));
    // What is left in the temp folder, but tsx's own cache (the test runs the sources through tsx).
    const left = () => readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
    const rng = new Rng(7);
    try {
      for (let trial = 0; trial < 4; trial++) {
        const delay = Math.floor(rng.uniform() * 1500);
        const p = spawn(tsx, ['--conditions=fermix-source', child], {
          cwd: root,
          env: { ...process.env, FERMIX_THREADS: '', FERMIX_CHILD_THREADS: '2', FERMIX_CHILD_ONLY: 'start', TMPDIR: tmp, TEMP: tmp, TMP: tmp },
          stdio: 'ignore',
        });
        await new Promise((r) => setTimeout(r, delay));
        p.kill('SIGKILL');
        await new Promise((r) => p.once('exit', r));
        expect(left(), `killed after ${delay} ms`).toEqual([]);
      }
      const r = runChild({ FERMIX_CHILD_THREADS: '2', FERMIX_CHILD_ONLY: 'start', TMPDIR: tmp });
      expect(r.out.info.threads).toBe(2);
      expect(left()).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
