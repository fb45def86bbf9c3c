/**
 * Building packages from a test: the YAML test loads this plugin the way an installed package is
 * loaded (its `require`/`import` entries, i.e. dist/), and pack.test.ts packs every package's dist/.
 * Both rebuild dist/ folders, which `tsup --clean` wipes first, so they take a lock around it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const pluginDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = path.resolve(pluginDir, '../..');
export const packagesDir = path.join(repoRoot, 'packages');

/** Newest modification time of the files a package's dist/ is built from. */
function newestInput(pkgDir: string): number {
  let newest = 0;
  const visit = (p: string) => {
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) visit(path.join(p, e));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const f of ['src', 'package.json', 'tsup.config.ts', 'tsconfig.json']) if (existsSync(path.join(pkgDir, f))) visit(path.join(pkgDir, f));
  return newest;
}

/** True when dist/ lacks an entry or is older than a source file. */
export function isStale(pkgDir: string): boolean {
  const outputs = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts'].map((f) => path.join(pkgDir, f));
  if (!outputs.every(existsSync)) return true;
  const oldest = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
  return oldest < newestInput(pkgDir);
}

/** Runs the package's tsup build (ESM + CJS + .d.ts); throws with tsup's output if it fails. */
export function build(pkgDir: string): void {
  const tsup = path.join(repoRoot, 'node_modules/.bin/tsup');
  const run = spawnSync(tsup, [], { cwd: pkgDir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 300_000 });
  if (run.status !== 0) {
    throw new Error(`build of ${path.relative(repoRoot, pkgDir)} failed (exit ${run.status}${run.signal ? `, ${run.signal}` : ''}):\n${run.stdout}\n${run.stderr}`);
  }
}

export function ensureBuilt(pkgDirs: string[]): string[] {
  const built: string[] = [];
  for (const dir of pkgDirs) {
    if (isStale(dir)) {
      build(dir);
      built.push(path.relative(repoRoot, dir));
    }
  }
  return built;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock between test processes (vitest forks) over the dist/ folders: a directory created
 * atomically, holding the owner's pid; a lock whose owner died is taken over. Returns the release.
 */
export async function lockDist(timeoutMs = 15 * 60_000): Promise<() => void> {
  const lock = path.join(repoRoot, 'node_modules/.cache/fermix-dist.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
    } catch {
      // Being created right now: wait for its pid.
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${lock} (held by pid ${owner})`);
    await sleep(500);
  }
}
