import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ReportError } from './errors.js';

/** How deep below the given folder run folders are looked for: a sweep keeps them in runs/<name>/. */
const MAX_DEPTH = 2;
/** Folders that never hold runs and may be large. */
const SKIP = new Set(['node_modules', 'checkpoints']);

/**
 * The run folders (folders holding config.yaml) in `root`, its children and its grandchildren,
 * sorted by path. A run folder's own subfolders are not searched.
 */
export function findRunFolders(root: string): string[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number) => {
    if (existsSync(path.join(dir, 'config.yaml'))) {
      found.push(dir);
      return;
    }
    if (depth >= MAX_DEPTH) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory() && !entry.name.startsWith('.') && !SKIP.has(entry.name)) visit(path.join(dir, entry.name), depth + 1);
    }
  };
  visit(root, 0);
  return found;
}

/** Throws when `root` is not a folder, naming it. */
export function assertFolder(root: string): void {
  if (!existsSync(root)) throw new ReportError(`${root}: no such folder (expected a run folder or a sweep folder)`);
  if (!statSync(root).isDirectory()) throw new ReportError(`${root} is a file; give the run or sweep folder that holds it`);
}
