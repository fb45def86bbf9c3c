/** The real `fermix` command from the sources, as a separate process, for tests of the CLI's behaviour. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const fermixBin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');

/** Runs `fermix <args>` in `cwd` without a terminal (CI=true); its exit code and output. */
export function fermixSync(args: string[], cwd: string, timeout = 300_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tsx, ['--conditions=fermix-source', fermixBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
