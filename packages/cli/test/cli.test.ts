import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');

/** Runs the real `fermix` entry point from the sources, as a separate process without a terminal. */
function fermix(args: string[], cwd: string) {
  const r = spawnSync(tsx, ['--conditions=fermix-source', bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tinyConfig = `seed: 2
backend: wasm
data:
  format: synthetic
  imageSize: 16
  trainPerClass: 4
  testPerClass: 2
model:
  backbone: small-cnn
  options: { widths: [4], convsPerStage: 1 }
train:
  epochs: 2
  batchSize: 8
  bnRecalibrationBatches: 2
`;

function project(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-cli-'));
  writeFileSync(path.join(dir, 'fermix.config.yaml'), config);
  return dir;
}

describe('fermix command', () => {
  it('--help is the manual: it lists the commands, and each command has its own help', () => {
    const top = fermix(['--help'], root);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('train');
    expect(top.stdout).toContain('eval');
    const train = fermix(['train', '--help'], root);
    expect(train.stdout).toContain('--resume');
    expect(train.stdout).toContain('--out');
    const evalHelp = fermix(['eval', '--help'], root);
    expect(evalHelp.stdout).toContain('--checkpoint');
  });

  it('trains from the config it finds, writes the run folder, evaluates the best checkpoint, and refuses to overwrite the run', () => {
    const dir = project(tinyConfig);
    const trained = fermix(['train', '--out', 'run'], dir);
    expect(trained.stderr).not.toMatch(/\x1b\[/); // no progress-bar escapes without a terminal
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/accuracy \d+\.\d+%/);
    const run = path.join(dir, 'run');
    expect(readdirSync(run).sort()).toEqual(['checkpoints', 'config.yaml', 'log.jsonl', 'metrics.json', 'samples.json']);
    const metrics = JSON.parse(readFileSync(path.join(run, 'metrics.json'), 'utf8'));
    expect(metrics.classes).toEqual(['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']);
    expect(metrics.history).toHaveLength(2);
    expect(trained.stderr).toContain('backend: wasm');
    // samples.json: the first batch as trained on (no plugins here: the one real view, one-hot targets).
    const samples = JSON.parse(readFileSync(path.join(run, 'samples.json'), 'utf8'));
    expect(Object.keys(samples.views)).toEqual(['real']);
    expect(samples.views.real.samples).toHaveLength(8);
    expect(samples.imageSize).toBe(16);
    for (const s of samples.views.real.samples) expect(s.label.filter((v: number) => v === 1)).toHaveLength(1);

    const evaluated = fermix(['eval', '-c', path.join(run, 'config.yaml'), '--checkpoint', path.join(run, 'checkpoints/best'), '--json', 'eval.json'], dir);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toContain('confusion matrix');
    const again = JSON.parse(readFileSync(path.join(dir, 'eval.json'), 'utf8'));
    // The checkpoint holds the best epoch's weights and statistics: eval reproduces the run's figures.
    expect(again.accuracy).toBeCloseTo(metrics.accuracy, 6);
    expect(again.macroF1).toBeCloseTo(metrics.macroF1, 6);

    const before = readFileSync(path.join(run, 'metrics.json'), 'utf8');
    const refused = fermix(['train', '--out', 'run'], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--resume');
    expect(readFileSync(path.join(run, 'metrics.json'), 'utf8')).toBe(before);
  });

  it('with dropout and mixaugment, a seeded run repeats itself on any thread count, and a run resumed after epoch 1 equals it', () => {
    const withPlugins = tinyConfig.replace('epochs: 2', 'epochs: 2\n  earlyStopping: false') + 'plugins:\n  - mixaugment: { alpha: 0.4 }\n  - dropout: { rate: 0.5 }\n';
    const dir = project(withPlugins);
    const metricsOf = (run: string) => JSON.parse(readFileSync(path.join(dir, run, 'metrics.json'), 'utf8'));
    const history = (run: string) => metricsOf(run).history.map((h: { trainLoss: number; accuracy: number }) => [h.trainLoss, h.accuracy]);
    const a = fermix(['train', '--out', 'a', '--threads', '1'], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/backend: wasm .*threads=1 threadsWhy=threads: 1 was asked for/);
    expect(metricsOf('a')).toMatchObject({ backend: 'wasm', threads: 1 });
    // The threaded build computes bit for bit what the single-thread build computes.
    expect(fermix(['train', '--out', 'b', '--threads', '2'], dir).code).toBe(0);
    expect(metricsOf('b').threads).toBe(2);
    expect(history('b')).toEqual(history('a'));

    writeFileSync(path.join(dir, 'fermix.config.yaml'), withPlugins.replace('epochs: 2', 'epochs: 1'));
    expect(fermix(['train', '--out', 'c'], dir).code).toBe(0);
    writeFileSync(path.join(dir, 'fermix.config.yaml'), withPlugins);
    const resumed = fermix(['train', '--out', 'c', '--resume', '--threads', '3'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming from');
    expect(history('c')).toEqual(history('a'));
  });

  it('refuses a --threads or --accelerator it cannot use, before anything starts', () => {
    const dir = project(tinyConfig);
    const threads = fermix(['train', '--out', 'run', '--threads', 'lots'], dir);
    expect(threads.code).not.toBe(0);
    expect(threads.stderr).toContain('--threads expects "auto" or an integer from 1 to 256, got "lots"');
    const accel = fermix(['train', '--out', 'run', '--accelerator', 'gpu'], dir);
    expect(accel.code).not.toBe(0);
    expect(accel.stderr).toContain('--accelerator expects "none" or "onnxruntime", got "gpu"');
    expect(existsSync(path.join(dir, 'run'))).toBe(false);
  });

  it('stops on a bad config before anything starts, naming the YAML path', () => {
    const dir = project(tinyConfig.replace('batchSize: 8', 'batchSize: eight'));
    const r = fermix(['train', '--out', 'run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('train.batchSize');
    expect(r.stderr).toContain('"eight"');
    expect(r.stderr).not.toContain('    at '); // a message, not a stack trace
    expect(existsSync(path.join(dir, 'run'))).toBe(false);
  });

  it("names a bad backbone option at its YAML path", () => {
    const dir = project(tinyConfig.replace('widths: [4]', 'widths: [4], widht: 3'));
    const r = fermix(['train', '--out', 'run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.options\.widht \(fermix\.config\.yaml:\d+:\d+\)/);
  });

  it('trains a backbone registered by another package listed under backbonePackages', () => {
    const dir = project(tinyConfig.replace('backbone: small-cnn\n  options: { widths: [4], convsPerStage: 1 }', 'backbone: pixels').replace('epochs: 2', 'epochs: 1') + 'backbonePackages: [fermix-backbone-pixels]\n');
    const pkg = path.join(dir, 'node_modules', 'fermix-backbone-pixels');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fermix-backbone-pixels', type: 'module', exports: { '.': { import: './index.js' } } }));
    // The smallest backbone there is: the image itself is the feature map.
    writeFileSync(path.join(pkg, 'index.js'), "export const backbones = [{ name: 'pixels', description: 'identity', minInputSize: 1, build: (input) => input }];\n");
    const r = fermix(['train', '--out', 'run'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('model: pixels');
  });

  it('names a backbone package that is not installed at its YAML path', () => {
    const dir = project(tinyConfig + 'backbonePackages: [fermix-backbone-absent]\n');
    const r = fermix(['train', '--out', 'run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/backbonePackages\[0\] \(fermix\.config\.yaml:\d+:\d+\)/);
  });

  it('names an unknown backbone before loading any data', () => {
    const dir = project(tinyConfig.replace('backbone: small-cnn', 'backbone: resnet9000'));
    const r = fermix(['train', '--out', 'run'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('model.backbone');
    expect(r.stderr).toContain('small-cnn');
  });
});
