import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BASE_URL_ENV, fetchWeightsFile, type DownloadProgress, type WeightsFileSpec } from '../src/index.js';

const fixture = fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'keras2.h5'));
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
/** The fixture as if it were one of Keras' files: its md5 is the published hash. */
const spec: WeightsFileSpec = { file: 'tiny_notop.h5', url: 'http://127.0.0.1:9/unused', hash: md5(fixture) };

/** How the server answers the next request: the whole file, the file cut off halfway, other bytes, or no Range support. */
type Mode = 'whole' | 'cut' | 'corrupt' | 'no-range';
let mode: Mode = 'whole';
const HALF = fixture.length >> 1;
let dropConnection: (() => void) | null = null;
/** onProgress for a 'cut' download: drops the connection once the half is in the .part file. */
const cutWhenHalfIsIn = (p: DownloadProgress) => {
  if (p.received >= HALF) dropConnection?.();
};
const requests: { url: string; range?: string }[] = [];
let server: http.Server;
let base: string;
let tmp: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.setHeader('connection', 'close'); // a fresh connection per request: nothing depends on reuse
    requests.push({ url: req.url!, range: req.headers.range });
    if (req.url !== `/${spec.file}`) {
      res.writeHead(404).end();
      return;
    }
    const body = mode === 'corrupt' ? Buffer.from(fixture).fill(7, 1000, 1100) : fixture;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && mode !== 'no-range') {
      const start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (mode === 'cut') {
      // Half the file; the connection drops once the client has written that half (cutWhenHalfIsIn).
      res.write(body.subarray(0, HALF));
      dropConnection = () => res.destroy();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-download-'));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

let cacheDir: string;
let counter = 0;
beforeEach(() => {
  mode = 'whole';
  requests.length = 0;
  cacheDir = path.join(tmp, `cache-${++counter}`);
});

function memoryLog() {
  const lines: string[] = [];
  return { lines, logger: { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(`warn: ${m}`) } };
}

const fetchIt = (extra: Parameters<typeof fetchWeightsFile>[1] = {}) => fetchWeightsFile(spec, { cacheDir, searchDirs: [], baseUrl: base, ...extra });

describe('fetchWeightsFile from a local HTTP server', () => {
  it('takes over a lock whose holder is alive but has written nothing for staleLockMs (a reused pid, or a hung download), with a warning; a fresh lock is waited for', async () => {
    fs.mkdirSync(cacheDir, { recursive: true });
    const lockFile = path.join(cacheDir, `${spec.file}.lock`);
    // This test's own pid: alive, as a dead holder's reused pid would be.
    fs.writeFileSync(lockFile, String(process.pid));
    const waiting = memoryLog();
    let done = false;
    const pending = fetchIt({ logger: waiting.logger, staleLockMs: 60_000 }).then((f) => ((done = true), f));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(done).toBe(false);
    expect(waiting.lines).toContain(`weights: waiting for process ${process.pid}, which is downloading ${spec.file}`);
    // An hour without a write: taken over.
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(lockFile, hourAgo, hourAgo);
    const file = await pending;
    expect(fs.readFileSync(file).equals(fixture)).toBe(true);
    expect(waiting.lines.some((l) => l.startsWith(`warn: weights: ${lockFile} is held by process ${process.pid}, but nothing has been written for `) && /for 36\d\d s/.test(l))).toBe(true);
    expect(fs.readdirSync(cacheDir)).toEqual([spec.file]);
  });

  it('downloads the whole file, verified, into the cache under its own name, with progress; a second run uses the cache without a request', async () => {
    const progress: DownloadProgress[] = [];
    const { lines, logger } = memoryLog();
    const file = await fetchIt({ logger, onProgress: (p) => progress.push(p) });
    expect(file).toBe(path.join(cacheDir, spec.file));
    expect(fs.readFileSync(file).equals(fixture)).toBe(true);
    expect(fs.readdirSync(cacheDir)).toEqual([spec.file]); // no .part, no .lock left
    expect(requests).toEqual([{ url: `/${spec.file}`, range: undefined }]);
    expect(progress.at(-1)).toEqual({ file: spec.file, received: fixture.length, total: fixture.length });
    expect(lines.some((l) => l.startsWith(`weights: downloading ${base}/${spec.file}`))).toBe(true);

    const again = memoryLog();
    expect(await fetchIt({ logger: again.logger })).toBe(file);
    expect(requests).toHaveLength(1);
    expect(again.lines).toEqual([`weights: using ${file} (cached, no download)`]);
  });

  it('keeps the bytes of a download cut in the middle, and the next run resumes it with a Range request', async () => {
    mode = 'cut';
    const error = await fetchIt({ onProgress: cutWhenHalfIsIn }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/broke off at .* MB.*run again to resume it/);
    const part = path.join(cacheDir, `${spec.file}.part`);
    expect(fs.statSync(part).size).toBe(HALF);
    expect(fs.existsSync(path.join(cacheDir, spec.file))).toBe(false);

    mode = 'whole';
    const { lines, logger } = memoryLog();
    const file = await fetchIt({ logger });
    expect(requests.at(-1)).toEqual({ url: `/${spec.file}`, range: `bytes=${HALF}-` });
    expect(lines).toContain(`weights: resuming ${spec.file} at 0.0 MB`);
    expect(fs.readFileSync(file).equals(fixture)).toBe(true);
    expect(fs.existsSync(part)).toBe(false);
  });

  it('starts over when the server ignores the Range request', async () => {
    mode = 'cut';
    await expect(fetchIt({ onProgress: cutWhenHalfIsIn })).rejects.toThrow(/broke off/);
    mode = 'no-range';
    const file = await fetchIt();
    expect(requests.at(-1)!.range).toBe(`bytes=${HALF}-`);
    expect(fs.readFileSync(file).equals(fixture)).toBe(true);
  });

  it('refuses a file that does not match its hash, naming it, and keeps nothing', async () => {
    mode = 'corrupt';
    await expect(fetchIt()).rejects.toThrow(`weights: the download of ${spec.file} from ${base}/${spec.file} does not match its hash (md5 `);
    expect(fs.readdirSync(cacheDir)).toEqual([]);
    // The next run downloads again (and gets the right file).
    mode = 'whole';
    expect(fs.readFileSync(await fetchIt()).equals(fixture)).toBe(true);
    expect(requests).toHaveLength(2);
  });

  it('lets a second caller wait for a download in progress instead of downloading it again', async () => {
    const [a, b] = await Promise.all([fetchIt(), fetchIt()]);
    expect(a).toBe(b);
    expect(requests).toHaveLength(1);
    expect(fs.readdirSync(cacheDir)).toEqual([spec.file]);
  });

  it(`takes the mirror from ${BASE_URL_ENV}`, async () => {
    process.env[BASE_URL_ENV] = `${base}/`;
    try {
      await fetchWeightsFile(spec, { cacheDir, searchDirs: [] });
    } finally {
      delete process.env[BASE_URL_ENV];
    }
    expect(requests).toEqual([{ url: `/${spec.file}`, range: undefined }]);
  });

  it("uses a file already in Keras' cache or placed by hand, offline, and refuses a wrong one without deleting it", async () => {
    const kerasDir = path.join(tmp, `keras-${counter}`, 'models');
    fs.mkdirSync(kerasDir, { recursive: true });
    fs.writeFileSync(path.join(kerasDir, spec.file), fixture);
    const { lines, logger } = memoryLog();
    // No server at this address: any request would fail.
    const offline = { cacheDir, searchDirs: [kerasDir], baseUrl: 'http://127.0.0.1:9', logger };
    expect(await fetchWeightsFile(spec, offline)).toBe(path.join(kerasDir, spec.file));
    expect(lines).toEqual([`weights: using ${path.join(kerasDir, spec.file)} (found in ${kerasDir}, no download)`]);

    fs.mkdirSync(cacheDir, { recursive: true });
    const placed = path.join(cacheDir, spec.file);
    fs.writeFileSync(placed, fixture.subarray(0, 100));
    await expect(fetchWeightsFile(spec, offline)).rejects.toThrow(`weights: ${placed} is not the file Keras publishes as ${spec.file} (md5 ${md5(fixture.subarray(0, 100))}, Keras publishes ${spec.hash}): delete or replace it`);
    expect(fs.statSync(placed).size).toBe(100);
    expect(requests).toEqual([]);
  });

  it('says what to do when there is no network and no file', async () => {
    await expect(fetchIt({ baseUrl: 'http://127.0.0.1:9' })).rejects.toThrow(
      new RegExp(`cannot download http://127\\.0\\.0\\.1:9/${spec.file}: .*Offline\\? Put ${spec.file} in ${cacheDir.replace(/[.]/g, '\\.')} .* or set ${BASE_URL_ENV} to a mirror`),
    );
  });

  it('keeps a file Keras publishes no hash for, and logs its sha256', async () => {
    const { lines, logger } = memoryLog();
    const file = await fetchWeightsFile({ ...spec, hash: null }, { cacheDir, searchDirs: [], baseUrl: base, logger });
    expect(fs.readFileSync(file).equals(fixture)).toBe(true);
    expect(lines).toContain(`warn: weights: Keras publishes no hash for ${spec.file}; kept unverified`);
  });
});
