/**
 * The publish proof: what `pnpm publish` would upload works in a project of its own.
 *
 * Builds the public packages (those whose dist/ is older than their sources), packs them with
 * `pnpm pack` (which rewrites `workspace:` ranges as publishing does), checks each tarball's files and
 * manifest, installs them with tfjs 4.22.0 into a scratch project outside the workspace, and runs the
 * installed `fermix train` there: once with the built-in plugins, once with this example's
 * third-party plugin named by its package name. Takes a minute or two (mostly the builds); skip it
 * with FERMIX_SKIP_PACK=1.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, lockDist, packagesDir, pluginDir } from './dist.js';

const SKIP = process.env.FERMIX_SKIP_PACK === '1';
const TFJS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'];
const PUBLIC = ['core', 'data', 'backbones', 'plugin-mixup', 'plugin-mixaugment', 'plugin-flip', 'plugin-dropout', 'plugin-label-smoothing', 'plugin-cutmix', 'plugin-crop', 'plugin-color', 'plugin-erasing', 'plugin-randaugment', 'report', 'weights', 'queue', 'landmarks', 'accel-onnxruntime', 'cli'];
const CLI_DEPS = ['@fermix/core', '@fermix/data', '@fermix/backbones', '@fermix/plugin-mixup', '@fermix/plugin-mixaugment', '@fermix/plugin-flip', '@fermix/plugin-dropout', '@fermix/plugin-label-smoothing', '@fermix/plugin-cutmix', '@fermix/plugin-crop', '@fermix/plugin-color', '@fermix/plugin-erasing', '@fermix/plugin-randaugment', '@fermix/report', '@fermix/weights', '@fermix/queue'];
/** Packages that compute nothing with tensors: no tfjs peer. */
const NO_TFJS = ['@fermix/report', '@fermix/data', '@fermix/weights', '@fermix/queue'];
/** Packages that need no @fermix/core: the accelerator only registers tfjs kernels; weights reads files (core depends on it); the queue only moves jobs. */
const NO_CORE = ['@fermix/accel-onnxruntime', '@fermix/weights', '@fermix/queue'];

interface Packed {
  dir: string;
  name: string;
  tarball: string;
  files: string[];
  manifest: Record<string, any>;
}

const run = promisify(execFile);

function pnpm(args: string[], cwd: string): string {
  return execFileSync('pnpm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

/** Every package.json under node_modules (pnpm's .pnpm store included) naming `name`, by real path. */
function copiesOf(name: string, nodeModules: string): string[] {
  const found = new Set<string>();
  const seen = new Set<string>();
  const visit = (dir: string) => {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    const manifest = path.join(real, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === name) found.add(real);
      } catch {
        // not a package manifest we can read
      }
    }
    for (const entry of readdirSync(real, { withFileTypes: true })) {
      if (entry.name === 'src' || entry.name === 'dist' || entry.name === 'test') continue;
      const at = path.join(real, entry.name);
      // Directories, and links to directories (pnpm's node_modules are links into .pnpm).
      if (entry.isDirectory() || (entry.isSymbolicLink() && existsSync(at) && statSync(at).isDirectory())) visit(at);
    }
  };
  visit(nodeModules);
  return [...found].sort();
}

describe.skipIf(SKIP)('publish proof: pack, install in a scratch project, run the installed fermix', () => {
  let work = '';
  let tarballs = '';
  let project = '';
  const packed = new Map<string, Packed>();

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'fermix-pack-'));
    tarballs = path.join(work, 'tarballs');
    project = path.join(work, 'project');
    mkdirSync(tarballs);
    const release = await lockDist();
    try {
      ensureBuilt([...PUBLIC.map((p) => path.join(packagesDir, p)), pluginDir]);
      for (const dir of [...PUBLIC.map((p) => path.join(packagesDir, p)), pluginDir]) {
        const out = pnpm(['pack', '--pack-destination', tarballs, '--json'], dir);
        const info = JSON.parse(out.slice(out.indexOf('{')));
        const tarball = info.filename as string;
        const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
        const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
        packed.set(manifest.name, { dir, name: manifest.name, tarball, files, manifest });
      }
    } finally {
      release();
    }
  }, 900_000);

  afterAll(() => {
    if (work && process.env.FERMIX_KEEP_PACK !== '1') rmSync(work, { recursive: true, force: true });
  });

  it('packs the seventeen public packages and the example plugin', () => {
    expect([...packed.keys()].sort()).toEqual([...CLI_DEPS, '@fermix/landmarks', '@fermix/accel-onnxruntime', '@fermix/cli', 'fermix-plugin-noise'].sort());
  });

  it('each tarball has its ESM, CJS and type entries, README and LICENSE', () => {
    for (const p of packed.values()) {
      for (const file of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'README.md', 'LICENSE', 'package.json']) {
        expect(p.files, `${p.name}: ${file}`).toContain(file);
      }
      expect(p.files.some((f) => f.startsWith('src/') || f.startsWith('test/')), `${p.name} ships sources or tests`).toBe(false);
      expect(readFileSync(path.join(p.dir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the fermix authors/);
      // Every entry the manifest points at is in the tarball.
      const targets = [p.manifest.main, p.manifest.module, p.manifest.types, ...Object.values(p.manifest.bin ?? {})].map((t: string) => t.replace(/^\.\//, ''));
      for (const t of targets) expect(p.files, `${p.name}: ${t}`).toContain(t);
    }
    expect(packed.get('@fermix/cli')!.files).toEqual(expect.arrayContaining(['bin/fermix.js', 'dist/bin.js']));
  });

  it('packed manifests: no workspace: ranges; @fermix/core and tfjs are peers, except the cli, which depends on core, backbones and the plugins', () => {
    for (const p of packed.values()) {
      const text = JSON.stringify(p.manifest);
      expect(text, p.name).not.toMatch(/workspace:/);
      const deps = Object.keys(p.manifest.dependencies ?? {});
      const peers = Object.keys(p.manifest.peerDependencies ?? {});
      if (!NO_TFJS.includes(p.name)) expect(peers, p.name).toContain('@tensorflow/tfjs-core');
      expect(deps.filter((d) => d.startsWith('@tensorflow/')), `${p.name} depends on tfjs`).toEqual([]);
      if (p.name === '@fermix/cli') {
        expect(deps).toEqual(expect.arrayContaining(CLI_DEPS));
        for (const d of CLI_DEPS) expect(p.manifest.dependencies[d], d).toBe(`^${packed.get(d)!.manifest.version}`);
      } else if (p.name !== '@fermix/core' && !NO_CORE.includes(p.name)) {
        expect(peers, p.name).toContain('@fermix/core');
        expect(deps, `${p.name} depends on @fermix/core`).not.toContain('@fermix/core');
      }
    }
    expect(packed.get('fermix-plugin-noise')!.manifest.keywords).toContain('fermix-plugin');
  });

  describe('installed in a scratch project', () => {
    let fermix = '';
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', FORCE_COLOR: '0' };
    delete env.NODE_OPTIONS;

    beforeAll(() => {
      fermix = path.join(project, 'node_modules', '.bin', 'fermix');
      mkdirSync(project);
      const file = (name: string) => `file:${packed.get(name)!.tarball}`;
      // The tarballs stand in for the registry: overrides send every reference to @fermix/* to them.
      const fermixPackages = Object.fromEntries([...packed.keys()].map((name) => [name, file(name)]));
      writeFileSync(
        path.join(project, 'package.json'),
        JSON.stringify(
          {
            name: 'fermix-pack-scratch',
            private: true,
            type: 'module',
            // The workspace's pnpm, so corepack runs the version it already has.
            packageManager: JSON.parse(readFileSync(path.join(packagesDir, '..', 'package.json'), 'utf8')).packageManager,
            dependencies: { ...fermixPackages, ...Object.fromEntries(TFJS.map((t) => [t, '4.22.0'])) },
            pnpm: { overrides: Object.fromEntries([...packed.keys()].filter((n) => n.startsWith('@fermix/')).map((n) => [n, file(n)])) },
          },
          null,
          2,
        ),
      );
      // Outside the workspace, with its own settings: peers must come from the project (none are
      // auto-installed), and a missing or wrong peer fails the install.
      writeFileSync(path.join(project, '.npmrc'), 'auto-install-peers=false\nstrict-peer-dependencies=true\n');
      pnpm(['install', '--prefer-offline', '--reporter=append-only'], project);
    }, 600_000);

    it('has exactly one copy of @tensorflow/tfjs-core', () => {
      const copies = copiesOf('@tensorflow/tfjs-core', path.join(project, 'node_modules'));
      expect(copies).toHaveLength(1);
      expect(JSON.parse(readFileSync(path.join(copies[0], 'package.json'), 'utf8')).version).toBe('4.22.0');
      expect(copiesOf('@fermix/core', path.join(project, 'node_modules'))).toHaveLength(1);
      expect(copiesOf('@fermix/data', path.join(project, 'node_modules'))).toHaveLength(1);
    });

    it('the names that moved to @fermix/data: from the deprecated @fermix/core/data subpath (the same objects) and from the @fermix/core root (deprecated, loaded on first use)', () => {
      const script = [
        "const old = await import('@fermix/core/data');",
        "const data = await import('@fermix/data');",
        "const core = await import('@fermix/core');",
        "console.log(JSON.stringify({ same: old.alignFace === data.alignFace && old.createImageFolderSource === data.createImageFolderSource && old.DecodePool === data.DecodePool, inCore: 'alignFace' in core }));",
      ].join('\n');
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env, encoding: 'utf8' });
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ same: true, inCore: true });

      // The root, in a program that does not import @fermix/data: ESM, then CJS.
      const fromRoot = (esm: boolean) =>
        [
          esm ? "import { createRafdbSource, parseRafdbLabels, similarityTransform, FER2013_LABELS, DecodePool, DataError } from '@fermix/core';" : "const { createRafdbSource, parseRafdbLabels, similarityTransform, FER2013_LABELS, DecodePool, DataError } = require('@fermix/core');",
          'const warnings = [];',
          "process.on('warning', (w) => { if (w.code === 'FERMIX_DEP_CORE_DATA') warnings.push(w.message); });",
          "createRafdbSource({ root: 'no-such-rafdb' }).splits().catch(async (err) => {",
          "  const entries = parseRafdbLabels('train_00001.jpg 4\\n', 'labels.txt');",
          '  const t = similarityTransform([{ x: 0, y: 0 }, { x: 1, y: 0 }], [{ x: 0, y: 0 }, { x: 2, y: 0 }]);',
          "  const pool = await DecodePool.open({ workers: 0, decoder: 'js' });",
          '  const isPool = pool instanceof DecodePool;',
          '  await pool.close();',
          '  setImmediate(() => console.log(JSON.stringify({ isDataError: err instanceof DataError, entries: entries.length, scale: Math.round(t.a), labels: FER2013_LABELS.length, isPool, warnings: warnings.length })));',
          '});',
        ].join('\n');
      const expected = { isDataError: true, entries: 1, scale: 2, labels: 7, isPool: true, warnings: 4 };
      for (const esm of [true, false]) {
        const output = execFileSync(process.execPath, [...(esm ? ['--input-type=module'] : []), '-e', fromRoot(esm)], { cwd: project, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        expect(JSON.parse(output.trim().split('\n').at(-1)!), esm ? 'ESM' : 'CJS').toEqual(expected);
      }
    });

    const trainConfig = (plugins: string[]) =>
      [
        'seed: 1',
        'backend: wasm',
        'data:',
        '  format: synthetic',
        '  imageSize: 16',
        '  trainPerClass: 4',
        '  testPerClass: 2',
        'model:',
        '  backbone: small-cnn',
        '  options: { widths: [4], convsPerStage: 1 }',
        'train:',
        '  epochs: 1',
        '  batchSize: 8',
        'plugins:',
        ...plugins.map((p) => `  - ${p}`),
        '',
      ].join('\n');

    async function train(name: string, plugins: string[]): Promise<{ code: number; stdout: string; stderr: string; runDir: string }> {
      const config = path.join(project, `${name}.yaml`);
      writeFileSync(config, trainConfig(plugins));
      const runDir = path.join(project, 'runs', name);
      try {
        const { stdout, stderr } = await run(fermix, ['train', '-c', config, '--out', runDir], { cwd: project, env, timeout: 300_000 });
        return { code: 0, stdout, stderr, runDir };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err), runDir };
      }
    }

    it('the installed `fermix train` runs flip, mixaugment and dropout on wasm, on every core, and writes metrics.json', async () => {
      expect(existsSync(fermix)).toBe(true);
      const result = await train('builtins', ['flip', 'mixaugment', 'dropout']);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      const metrics = JSON.parse(readFileSync(path.join(result.runDir, 'metrics.json'), 'utf8'));
      expect(metrics.accuracy).toBeGreaterThanOrEqual(0);
      expect(metrics.history).toHaveLength(1);
      expect(`${result.stdout}\n${result.stderr}`).toMatch(/wasm/);
      // The threaded wasm build starts from the installed packages' own files.
      expect(metrics.threads).toBe(os.availableParallelism());
    });

    it('the installed `fermix train --accelerator onnxruntime` finds @fermix/accel-onnxruntime in the project and trains with it', async () => {
      const config = path.join(project, 'accel.yaml');
      writeFileSync(config, trainConfig(['flip']));
      const runDir = path.join(project, 'runs', 'accel');
      const { stderr } = await run(fermix, ['train', '-c', config, '--out', runDir, '--accelerator', 'onnxruntime'], { cwd: project, env, timeout: 300_000 });
      expect(stderr).toMatch(/accelerator=onnxruntime 1\.\d+\.\d+ \(Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter/);
      const metrics = JSON.parse(readFileSync(path.join(runDir, 'metrics.json'), 'utf8'));
      expect(metrics.accelerator).toMatch(/^onnxruntime 1\./);
      expect(metrics.history).toHaveLength(1);
    });

    it('the installed `fermix sweep` runs a grid in separate processes and `fermix report` writes the tables and the HTML', async () => {
      writeFileSync(path.join(project, 'base.yaml'), trainConfig([]));
      writeFileSync(path.join(project, 'mini.sweep.yaml'), 'base: base.yaml\ngrid:\n  method: [vanilla, mixaugment+flip]\n  alpha: [0.2]\n  seed: [1]\n');
      const swept = await run(fermix, ['sweep', '-c', 'mini.sweep.yaml', '--out', 'runs/mini', '--parallel', '2'], { cwd: project, env, timeout: 300_000 });
      expect(swept.stdout).toContain('2 of 2 runs finished');
      for (const name of ['vanilla_seed-1', 'mixaugment+flip_alpha-0.2_seed-1']) {
        expect(existsSync(path.join(project, 'runs/mini/runs', name, 'metrics.json')), name).toBe(true);
      }
      const reported = await run(fermix, ['report', 'runs/mini'], { cwd: project, env, timeout: 120_000 });
      expect(reported.stdout).toContain('report.html');
      const md = readFileSync(path.join(project, 'runs/mini/report/report.md'), 'utf8');
      expect(md).toContain('mixaugment+flip');
      expect(existsSync(path.join(project, 'runs/mini/report/report.html'))).toBe(true);
    });

    it('the installed `fermix prepare` finds faces with the optional @fermix/landmarks, offline, on the one tfjs', async () => {
      const photos = path.join(project, 'photos');
      const photo = path.join(project, 'node_modules/@vladmandic/face-api/demo/sample2.jpg');
      const source = existsSync(photo) ? photo : path.join(packagesDir, 'landmarks/node_modules/@vladmandic/face-api/demo/sample2.jpg');
      for (const split of ['train', 'test']) {
        mkdirSync(path.join(photos, split, 'happy'), { recursive: true });
        writeFileSync(path.join(photos, split, 'happy', 'face.jpg'), readFileSync(source));
      }
      writeFileSync(path.join(project, 'align.yaml'), 'backend: wasm\ndata:\n  format: imagefolder\n  root: photos\n  align: { landmarks: model, size: 112 }\n');
      const prepared = await run(fermix, ['prepare', '-c', 'align.yaml', '--out', 'aligned'], { cwd: project, env, timeout: 300_000 });
      expect(prepared.stdout).toContain('aligned 2 of 2 images');
      expect(existsSync(path.join(project, 'aligned/test/happy/face.png'))).toBe(true);
      expect(copiesOf('@tensorflow/tfjs-core', path.join(project, 'node_modules'))).toHaveLength(1);
    });

    it('and loads a third-party plugin by its package name (fermix-plugin-noise)', async () => {
      const result = await train('noise', ['flip', 'fermix-plugin-noise: { sigma: 0.05 }']);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(existsSync(path.join(result.runDir, 'metrics.json'))).toBe(true);
    });

    it('a bad option of that plugin stops `fermix train` (exit 2) naming the plugin, option and value', async () => {
      const result = await train('noise-bad', ['fermix-plugin-noise: { sigma: 0 }']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/plugins\[0\]\.fermix-plugin-noise/);
      expect(result.stderr).toMatch(/plugins\[0\]\.fermix-plugin-noise\.sigma \([^)]*\.yaml:\d+:\d+\): expected a number > 0, found 0/);
      expect(existsSync(path.join(result.runDir, 'metrics.json'))).toBe(false);
    });
  });
});
