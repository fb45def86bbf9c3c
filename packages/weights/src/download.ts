/**
 * Downloads a weights file into the cache, verified, the way Keras' `get_file` does, plus what a
 * 100 MB download on a flaky link needs.
 *
 * The rule that keeps the cache correct: a file under its final name is complete and verified.
 * Bytes arrive in `<file>.part` (kept when the transfer breaks, and continued with an HTTP Range
 * request next time; a server that ignores the Range restarts it from zero), the whole file is
 * checked against the hash Keras publishes, and only then renamed to its final name. A hash
 * mismatch deletes the `.part` and keeps nothing. `<file>.lock` makes a second process (a sweep's
 * parallel runs) wait for the first one's download instead of writing the same `.part`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BASE_URL_ENV, kerasCacheDir, weightsCacheDir } from './cache.js';
import type { WeightsFileSpec } from './imagenet.js';

/** Log lines (structurally the same as @fermix/core's Logger). */
export interface WeightsLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface DownloadProgress {
  file: string;
  /** Bytes in the file so far (a resumed download starts at what the `.part` held). */
  received: number;
  /** The file's size, when the server says it. */
  total: number | null;
}

export interface FetchWeightsOptions {
  /** Default: weightsCacheDir() ($FERMIX_HOME/weights or ~/.cache/fermix/weights). */
  cacheDir?: string;
  /** Also looked in, never written: default Keras' cache (~/.keras/models). */
  searchDirs?: string[];
  /** A mirror holding the files by name: `<baseUrl>/<file>`. Default: $FERMIX_WEIGHTS_BASE_URL, else Keras' URL. */
  baseUrl?: string;
  logger?: WeightsLogger;
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * A lock whose holder has written nothing (neither the lock nor the `.part` file) for this long
   * is taken over, with a warning: its process may have died and its pid been reused, or it hangs.
   * Default 10 minutes.
   */
  staleLockMs?: number;
}

/** How long a lock may go without a write before it is taken over (see `staleLockMs`). */
export const STALE_LOCK_MS = 10 * 60 * 1000;

const silent: WeightsLogger = { info() {}, warn() {} };
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** The hash of a file, md5 or sha256 as Keras picks it (`algorithm="auto"`: 64 hex digits are sha256). */
export async function hashFile(file: string, hash: string | null): Promise<{ algorithm: 'md5' | 'sha256'; digest: string }> {
  const algorithm = hash?.length === 64 ? 'sha256' : hash ? 'md5' : 'sha256';
  const h = createHash(algorithm);
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return { algorithm, digest: h.digest('hex') };
}

/** Checks a complete file against the spec's hash; returns an error message, or null when it matches (or there is no hash). */
async function mismatch(file: string, spec: WeightsFileSpec): Promise<string | null> {
  if (!spec.hash) return null;
  const { algorithm, digest } = await hashFile(file, spec.hash);
  return digest === spec.hash.toLowerCase() ? null : `${algorithm} ${digest}, Keras publishes ${spec.hash}`;
}

const isFile = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;

/** A file already there (cached or placed by hand), verified; a wrong one is an error and stays where the user put it. */
async function existing(file: string, spec: WeightsFileSpec, where: string, logger: WeightsLogger): Promise<string | null> {
  if (!isFile(file)) return null;
  const bad = await mismatch(file, spec);
  if (bad) throw new Error(`weights: ${file} is not the file Keras publishes as ${spec.file} (${bad}): delete or replace it, then run again`);
  logger.info(`weights: using ${file} (${where}, no download)`, spec.hash ? { verified: spec.hash } : { verified: 'no hash published' });
  return file;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** When anything was last written for the download `lockFile` guards: the lock itself or the `.part` file. */
function lastWrite(lockFile: string, partFile: string): number {
  const times = [lockFile, partFile].map((f) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0);
  return Math.max(...times);
}

/**
 * Takes `<file>.lock`, waiting while another live process holds it and still writes. A lock left
 * by a process that died is removed; so is one whose holder has written nothing for `staleMs` (a
 * pid alone cannot tell: the system may have given a dead holder's pid to another process).
 * Returns the release function.
 */
async function lock(lockFile: string, partFile: string, staleMs: number, logger: WeightsLogger): Promise<() => void> {
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      // Only this process's own lock: another may have taken a lock this one held too long.
      return () => {
        let holder = '';
        try {
          holder = fs.readFileSync(lockFile, 'utf8');
        } catch {
          return; // already gone
        }
        if (holder === String(process.pid)) fs.rmSync(lockFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: number;
    try {
      holder = Number(fs.readFileSync(lockFile, 'utf8') || NaN);
    } catch {
      continue; // released in the meantime
    }
    if (!Number.isInteger(holder) || !alive(holder)) {
      fs.rmSync(lockFile, { force: true }); // left by a process that died
      continue;
    }
    const idle = Date.now() - lastWrite(lockFile, partFile);
    if (idle > staleMs) {
      logger.warn(
        `weights: ${lockFile} is held by process ${holder}, but nothing has been written for ${Math.round(idle / 1000)} s (that process may have died and its pid been reused, or it hangs); taking the lock over`,
      );
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (!told) logger.info(`weights: waiting for process ${holder}, which is downloading ${path.basename(lockFile, '.lock')}`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** One HTTP transfer into `part`, continuing it when it has bytes. Throws (keeping `part`) when the transfer breaks. */
async function transfer(url: string, part: string, spec: WeightsFileSpec, options: FetchWeightsOptions, logger: WeightsLogger): Promise<void> {
  let start = fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0;
  let response: Response;
  try {
    response = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {} });
    if (response.status === 416 && start > 0) {
      // The .part is not a prefix the server can continue (e.g. the file changed): start over.
      fs.rmSync(part, { force: true });
      start = 0;
      response = await fetch(url);
    }
  } catch (err) {
    throw new Error(
      `weights: cannot download ${url}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}. ` +
        `Offline? Put ${spec.file} in ${options.cacheDir} (or Keras' ~/.keras/models), or set ${BASE_URL_ENV} to a mirror`,
      { cause: err },
    );
  }
  if (response.status !== 200 && response.status !== 206) {
    throw new Error(`weights: downloading ${url} failed: HTTP ${response.status} ${response.statusText}`);
  }
  const resumed = response.status === 206 && start > 0;
  if (resumed) {
    const from = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
    if (Number(from) !== start) throw new Error(`weights: ${url} answered a resume from byte ${start} with ${response.headers.get('content-range')}`);
    logger.info(`weights: resuming ${spec.file} at ${mb(start)} MB`);
  } else {
    start = 0;
  }
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? start + length : null;
  const out = await fs.promises.open(part, resumed ? 'a' : 'w');
  let received = start;
  let reported = -1;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await out.write(chunk);
      received += chunk.byteLength;
      const step = total ? Math.floor((received / total) * 200) : Math.floor(received / 2 ** 20);
      if (step !== reported) options.onProgress?.({ file: spec.file, received, total });
      reported = step;
    }
  } catch (err) {
    throw new Error(`weights: the download of ${url} broke off at ${mb(received)} of ${total ? mb(total) : '?'} MB (${(err as Error).message}); run again to resume it`, { cause: err });
  } finally {
    await out.close();
  }
  if (total !== null && received !== total) {
    throw new Error(`weights: the download of ${url} ended at ${received} of ${total} bytes; run again to resume it`);
  }
  options.onProgress?.({ file: spec.file, received, total: total ?? received });
}

/**
 * The path of a verified copy of `spec`'s file: the cache's (`cacheDir`), Keras' own cache, or a
 * fresh download from `baseUrl`/Keras' URL into the cache. Logs which. Throws an Error naming the
 * file for a hash mismatch (keeping nothing downloaded), a failed or broken download (keeping the
 * `.part` to resume), or no network.
 */
export async function fetchWeightsFile(spec: WeightsFileSpec, options: FetchWeightsOptions = {}): Promise<string> {
  const logger = options.logger ?? silent;
  const cacheDir = options.cacheDir ?? weightsCacheDir();
  const target = path.join(cacheDir, spec.file);
  const found = await existing(target, spec, 'cached', logger);
  if (found) return found;
  for (const dir of options.searchDirs ?? [kerasCacheDir()]) {
    const other = await existing(path.join(dir, spec.file), spec, `found in ${dir}`, logger);
    if (other) return other;
  }

  fs.mkdirSync(cacheDir, { recursive: true });
  const release = await lock(`${target}.lock`, `${target}.part`, options.staleLockMs ?? STALE_LOCK_MS, logger);
  try {
    // Another process may have finished it while this one waited.
    const done = await existing(target, spec, 'downloaded by another process', logger);
    if (done) return done;
    const base = options.baseUrl ?? process.env[BASE_URL_ENV];
    const url = base ? `${base.replace(/\/+$/, '')}/${spec.file}` : spec.url;
    const part = `${target}.part`;
    logger.info(`weights: downloading ${url}`, { to: target });
    await transfer(url, part, spec, { ...options, cacheDir }, logger);
    const bad = await mismatch(part, spec);
    if (bad) {
      fs.rmSync(part, { force: true });
      throw new Error(`weights: the download of ${spec.file} from ${url} does not match its hash (${bad}); nothing was kept`);
    }
    if (!spec.hash) {
      const { digest } = await hashFile(part, null);
      logger.warn(`weights: Keras publishes no hash for ${spec.file}; kept unverified`, { sha256: digest });
    }
    fs.renameSync(part, target);
    logger.info(`weights: downloaded ${spec.file} (${mb(fs.statSync(target).size)} MB)`, { to: target });
    return target;
  } finally {
    release();
  }
}
