/**
 * Config fuzzing: every config and sweep file in examples/, mutated (keys deleted, types changed,
 * unknown keys, extreme numbers, huge strings, deep nesting, YAML anchors and aliases, !!js/* and
 * other tags), written as YAML and read the way `fermix train` reads it. Each case is either
 * accepted, and then `fermix train --dry-run`'s setup (plugins, data index, model) runs in-process
 * without a crash, or refused with fermix's error format: a ConfigError naming a YAML path per
 * issue, or a DataError naming the file; never another exception, never a stack trace in the message.
 * Plugin options get the same property through each plugin's parseOptions. A few cases go through
 * the real `fermix` process, and a YAML alias bomb is refused with bounded memory.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  createTrainStep,
  DataError,
  loadConfig,
  PluginRegistry,
  readConfigFile,
  resolvePlugins,
  Rng,
  silentLogger,
  validateConfig,
  BackboneRegistry,
  buildModelForConfig,
  type FermixPlugin,
} from '@fermix/core';
import { registerBackbones } from '@fermix/backbones';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Document, isNode, parse, stringify } from 'yaml';
import { fermixSync } from '../../../test-support/fermix-process.js';
import { checkAsyncProperty, checkProperty, extremeNumber, fuzzSeed, nastyString } from '../../../test-support/fuzz.js';
import { builtinPlugins, registerBuiltinPlugins } from '../src/builtins.js';
import { dryRunTrain } from '../src/commands/dry-run.js';
import { openSession } from '../src/setup.js';
import { readSweepFile } from '../src/sweep/spec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const examples = path.join(root, 'examples');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'fermix-fuzz-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every YAML file under examples/ (node_modules aside), configs and sweeps apart. */
function exampleFiles(): { configs: string[]; sweeps: string[] } {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (name === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name)) found.push(p);
    }
  };
  walk(examples);
  found.sort();
  return { configs: found.filter((f) => !f.endsWith('.sweep.yaml')), sweeps: found.filter((f) => f.endsWith('.sweep.yaml')) };
}

/** The file's data as if written where the fuzz writes it: relative paths made absolute. */
function absolutized(file: string): Record<string, unknown> {
  const raw = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  const dir = path.dirname(file);
  if (typeof raw.base === 'string') raw.base = path.resolve(dir, raw.base);
  if (typeof raw.out === 'string') raw.out = path.join(scratch, 'sweep-out');
  if (typeof raw.data?.root === 'string') raw.data.root = path.resolve(dir, raw.data.root);
  if (typeof raw.model?.weights === 'string') raw.model.weights = path.resolve(dir, raw.model.weights);
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Key = string | number;
/** A mutation picks its place by a number (modulo the places the document has), so it shrinks well. */
type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'retype'; at: number; value: unknown }
  | { op: 'unknown-key'; at: number; key: string; value: unknown }
  | { op: 'extreme'; at: number; value: number }
  | { op: 'huge-string'; at: number; value: string }
  | { op: 'deep'; at: number; depth: number; kind: 'array' | 'map' }
  | { op: 'alias'; at: number; to: number }
  | { op: 'tag'; at: number; tag: string };

const TAGS = ['!!js/function "function () { return process.exit(3) }"', '!!js/undefined ""', '!!js/regexp /x/g', '!!binary aGVsbG8=', '!custom value', '!!python/object:os.system [ls]', '!!set { a }', '!!omap [ { a: 1 } ]'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('retype' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom<unknown>(null, true, false, 0, 1, 'text', [], {}, [1, 'a'], { a: 1 }), fc.jsonValue({ maxDepth: 2 })) }),
  fc.record({ op: fc.constant('unknown-key' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom('epoks', 'batchsize', 'root ', '__proto__', 'constructor', 'toString', ''), fc.string({ maxLength: 12 })), value: fc.jsonValue({ maxDepth: 1 }) }),
  fc.record({ op: fc.constant('extreme' as const), at: fc.nat(), value: extremeNumber }),
  fc.record({ op: fc.constant('huge-string' as const), at: fc.nat(), value: nastyString }),
  fc.record({ op: fc.constant('deep' as const), at: fc.nat(), depth: fc.oneof(fc.integer({ min: 20, max: 40 }), fc.constantFrom(100, 2000)), kind: fc.constantFrom('array' as const, 'map' as const) }),
  fc.record({ op: fc.constant('alias' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('tag' as const), at: fc.nat(), tag: fc.constantFrom(...TAGS) }),
);

/** Every path in a parsed value, the root included. */
function pathsOf(value: unknown, prefix: Key[] = []): Key[][] {
  const out: Key[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

function getAt(value: any, p: Key[]): any {
  return p.reduce((v, k) => (v === null || typeof v !== 'object' ? undefined : v[k]), value);
}

function setAt(value: any, p: Key[], next: unknown): any {
  if (p.length === 0) return next;
  const parent = getAt(value, p.slice(0, -1));
  if (parent !== null && typeof parent === 'object') parent[p[p.length - 1]] = next;
  return value;
}

/**
 * The mutated file's text. Data-level mutations edit the value; text-level ones (tags, deep flow
 * nesting) put a placeholder in the value and swap YAML text in for it; anchors and aliases are
 * made on yaml's Document.
 */
function mutatedYaml(base: Record<string, unknown>, mutations: Mutation[]): string {
  let value: any = structuredClone(base);
  const snippets: string[] = [];
  const placeholder = (text: string) => `__fuzz_${snippets.push(text) - 1}__`;
  const aliases: { from: Key[]; to: Key[] }[] = [];
  for (const m of mutations) {
    const paths = pathsOf(value);
    const p = paths[m.at % paths.length];
    switch (m.op) {
      case 'delete': {
        const parent = getAt(value, p.slice(0, -1));
        if (p.length === 0) value = {};
        else if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
        else if (parent && typeof parent === 'object') delete parent[p[p.length - 1]];
        break;
      }
      case 'retype':
        value = setAt(value, p, structuredClone(m.value));
        break;
      case 'unknown-key': {
        const target = getAt(value, p);
        if (target !== null && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
        else value = setAt(value, p, { [m.key]: m.value });
        break;
      }
      case 'extreme':
        // YAML spells NaN and the infinities itself; -0 and the rest print as numbers.
        value = setAt(value, p, Number.isNaN(m.value) ? placeholder('.nan') : m.value === Infinity ? placeholder('.inf') : m.value === -Infinity ? placeholder('-.inf') : Object.is(m.value, -0) ? placeholder('-0') : m.value);
        break;
      case 'huge-string':
        value = setAt(value, p, m.value);
        break;
      case 'deep':
        value = setAt(value, p, placeholder(m.kind === 'array' ? `${'['.repeat(m.depth)}1${']'.repeat(m.depth)}` : `${'{a: '.repeat(m.depth)}1${'}'.repeat(m.depth)}`));
        break;
      case 'alias':
        aliases.push({ from: p, to: paths[m.to % paths.length] });
        break;
      case 'tag':
        value = setAt(value, p, placeholder(m.tag));
        break;
    }
  }
  const doc = new Document(value);
  aliases.forEach(({ from, to }, i) => {
    const node = from.length === 0 ? doc.contents : doc.getIn(from, true);
    if (!isNode(node)) return;
    node.anchor = `a${i}`;
    const alias = doc.createAlias(node as any, `a${i}`);
    if (to.length === 0) return;
    try {
      doc.setIn(to, alias);
    } catch {
      // a path through a scalar: nothing to alias there
    }
  });
  let text: string;
  try {
    text = doc.toString({ lineWidth: 0 });
  } catch {
    text = stringify(value, { lineWidth: 0 });
  }
  return text.replace(/['"]?__fuzz_(\d+)__['"]?/g, (_, i) => snippets[Number(i)]);
}

// ---------------------------------------------------------------------------------------------
// The property

/** A refusal in fermix's format: a ConfigError whose every issue names a YAML path, or a DataError; no stack trace. */
function expectFermixRefusal(err: unknown, text: string): 'config' | 'data' {
  const e = err as Error;
  const context = `${e?.stack ?? String(err)}\n--- config ---\n${text.slice(0, 2000)}`;
  const isConfig = e instanceof ConfigError || e?.name === 'ConfigError';
  if (!isConfig && !(e instanceof DataError)) throw new Error(`crashed instead of refusing: ${context}`);
  if (/\n\s+at \S/.test(e.message)) throw new Error(`a stack trace in the message: ${context}`);
  if (isConfig) {
    const lines = e.message.split('\n').slice(1);
    if (lines.length === 0) throw new Error(`a ConfigError without issues: ${context}`);
    for (const line of lines) {
      // "  - train.batchSize (fermix.config.yaml:9:14): expected ..."
      if (!/^ {2}- \S.*: expected /.test(line)) throw new Error(`an issue that names no YAML path: ${JSON.stringify(line)}\n${context}`);
    }
  }
  if (e.message.length > 20_000) throw new Error(`an unreadable message of ${e.message.length} characters: ${context}`);
  return isConfig ? 'config' : 'data';
}

/** Models built once per plan: the dry run of thousands of configs shares a few dozen models. */
const paramCounts = new Map<string, number>();
const countParams = (build: () => { countParams(): number; dispose(): void }, key: string) => {
  let n = paramCounts.get(key);
  if (n === undefined) {
    const model = build();
    n = model.countParams();
    model.dispose();
    paramCounts.set(key, n);
  }
  return n;
};

const outcomes = { accepted: 0, config: 0, data: 0 };
let caseNo = 0;

/** Writes the text as a config file and runs `fermix train --dry-run`'s setup on it, in this process. */
async function dryRunText(text: string): Promise<void> {
  const dir = path.join(scratch, `case-${caseNo++}`);
  const file = path.join(dir, 'fermix.config.yaml');
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, text);
  try {
    const session = await openSession(file, silentLogger);
    const report = await dryRunTrain(session, silentLogger, { countParams });
    expect(report.model.params).toBeGreaterThan(0);
    outcomes.accepted++;
  } catch (err) {
    outcomes[expectFermixRefusal(err, text)]++;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { configs, sweeps } = exampleFiles();
const bases = configs.map((file) => ({ file, raw: absolutized(file) }));

describe('config fuzzing (fast-check)', () => {
  it('finds the example configs and sweeps to mutate', () => {
    expect(configs.map((f) => path.relative(examples, f))).toContain('quickstart/fermix.config.yaml');
    expect(sweeps.length).toBeGreaterThanOrEqual(5);
  });

  it('every mutated example config is accepted and dry-runs, or is refused naming a YAML path (or the data file), without a stack trace', async () => {
    const arb = fc.record({ base: fc.nat({ max: bases.length - 1 }), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) });
    const { cases } = await checkAsyncProperty('example configs', arb, async ({ base, mutations }) => dryRunText(mutatedYaml(bases[base].raw, mutations)), 1200);
    console.log(`fuzz example configs: ${outcomes.accepted} accepted (dry run set up), ${outcomes.config} refused by the config check, ${outcomes.data} by the data check; ${paramCounts.size} distinct models`);
    expect(cases).toBeGreaterThanOrEqual(1200);
    // The mix proves the property is exercised on both sides.
    expect(outcomes.accepted).toBeGreaterThan(40);
    expect(outcomes.config).toBeGreaterThan(400);
  });

  it('the unmutated examples are accepted (or need only the data that is not here)', async () => {
    for (const { raw } of bases) await dryRunText(stringify(raw));
  });

  it('every mutated sweep file is expanded or refused naming a YAML path; each run config it makes is checked the same way', () => {
    const sweepBases = sweeps.map((file) => absolutized(file));
    let expanded = 0;
    const arb = fc.record({ base: fc.nat({ max: sweepBases.length - 1 }), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) });
    checkProperty(
      'sweep files',
      arb,
      ({ base, mutations }) => {
        const text = mutatedYaml(sweepBases[base], mutations);
        const file = path.join(scratch, `sweep-${caseNo++}.sweep.yaml`);
        writeFileSync(file, text);
        try {
          const sweep = readSweepFile(file);
          expanded++;
          for (const run of sweep.runs.slice(0, 3)) {
            try {
              validateConfig(run.config, { baseDir: path.dirname(sweep.baseFile), file: sweep.baseFile });
            } catch (err) {
              expectFermixRefusal(err, text);
            }
          }
        } catch (err) {
          expectFermixRefusal(err, text);
        } finally {
          rmSync(file, { force: true });
        }
      },
      800,
    );
    expect(expanded).toBeGreaterThan(20);
  });

  it('a YAML "billion laughs" alias bomb is refused before it expands, with bounded memory', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const name = String.fromCharCode(97 + i);
      const prev = String.fromCharCode(96 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    // 9^10 (3.5 billion) strings once expanded: tens of gigabytes.
    const file = path.join(scratch, 'bomb', 'fermix.config.yaml');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `model:\n  options:\n    ${levels.join('\n    ')}\n`);
    const before = process.memoryUsage();
    const started = performance.now();
    const err = await loadConfig({ file }).then(
      () => null,
      (e: unknown) => e,
    );
    const ms = performance.now() - started;
    const grown = (process.memoryUsage().heapUsed - before.heapUsed) / 2 ** 20;
    console.log(`alias bomb: refused in ${ms.toFixed(1)} ms, heap grew ${grown.toFixed(1)} MB`);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/valid YAML \(Excessive alias count/);
    expect(grown).toBeLessThan(64);
  });

  it('!!js/* and typed tags, a self-referencing anchor, deep nesting and absurd lengths are refused at their place in the file, briefly', async () => {
    const cases: [string, RegExp][] = [
      ['seed: !!js/function "function () { return 1 }"\n', /\(root\) \(fermix\.config\.yaml:1:7\): expected plain YAML data without tags \(Unresolved tag: tag:yaml\.org,2002:js\/function/],
      ['train:\n  epochs: !!js/undefined ""\n', /fermix\.config\.yaml:2:11\): expected plain YAML data without tags/],
      ['model:\n  options: &x { widths: *x }\n', /model\.options\.widths \(fermix\.config\.yaml:\d+:\d+\): expected a value that does not contain itself/],
      [`model:\n  options: { widths: ${'['.repeat(40)}1${']'.repeat(40)} }\n`, /expected nesting at most 32 levels deep/],
      [`seed: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, /\(root\)/],
      // Found by the fuzz above (seed 1612), kept as regression cases:
      ['plugins:\n  - mixup: !!binary aGVsbG8=\n', /plugins\[0\]\.mixup \(fermix\.config\.yaml:2:\d+\): expected plain data .*not Buffer/],
      [`data:\n  format: imagefolder\n  root: ${'x'.repeat(10_000)}\n`, /^invalid fermix config \(.*\):\n {2}- data\.root \(fermix\.config\.yaml:3:9\): expected a text of at most 4096 characters, found "x{76}\.\.\.$/],
      ['data:\n  root: ""\n', /data\.root .*: expected a text of at least 1 character, found ""/],
    ];
    for (const [text, expected] of cases) {
      const file = path.join(scratch, 'tags', 'fermix.config.yaml');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
      const err = await loadConfig({ file }).then(() => null, (e: unknown) => e);
      expect(err, text.slice(0, 60)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(expected);
      expect((err as Error).message.length).toBeLessThan(1000);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Plugin options through parseOptions

/** Each built-in plugin's options as the examples write them, plus {} (every default). */
function exampleOptions(): Map<string, unknown[]> {
  const byName = new Map<string, unknown[]>(Object.keys(builtinPlugins).map((n) => [n, [{}]]));
  for (const { raw } of bases) {
    for (const entry of (raw.plugins as unknown[] | undefined) ?? []) {
      if (entry && typeof entry === 'object') for (const [name, options] of Object.entries(entry)) byName.get(name)?.push(options ?? {});
    }
  }
  return byName;
}

describe('plugin options fuzzing (fast-check)', () => {
  it("every plugin's options, mutated, are accepted (and the plugin trains a step) or refused naming plugins[i].<name>.<path>", async () => {
    await tf.setBackend('cpu');
    const names = Object.keys(builtinPlugins);
    const examplesOf = exampleOptions();
    const registry = registerBuiltinPlugins(new PluginRegistry());
    const backbones = registerBackbones(new BackboneRegistry());
    const counts = { accepted: 0, refused: 0 };
    const arb = fc.record({
      name: fc.constantFrom(...names),
      pick: fc.nat(),
      mutations: fc.array(mutation, { minLength: 0, maxLength: 2 }),
      anything: fc.option(fc.anything({ maxDepth: 2, withNullPrototype: true }), { freq: 4 }),
    });
    await checkAsyncProperty(
      'plugin options',
      arb,
      async ({ name, pick, mutations, anything }) => {
        const choices = examplesOf.get(name)!;
        const base = { options: choices[pick % choices.length] };
        // Through a YAML file, as a config gives them (mutations of a known-good value), or any value at all from code.
        let options: unknown = anything;
        if (options === null) {
          const text = mutatedYaml(base, mutations);
          const file = path.join(scratch, `options-${caseNo++}.yaml`);
          writeFileSync(file, text);
          try {
            options = (readConfigFile(file).raw as { options?: unknown } | null)?.options;
          } catch (err) {
            expectFermixRefusal(err, text); // refused as YAML already (a tag, a cycle, too deep)
            counts.refused++;
            return;
          } finally {
            rmSync(file, { force: true });
          }
        }
        const config = { plugins: [{ [name]: options }], baseDir: scratch, configFile: undefined };
        let plugins: FermixPlugin[];
        try {
          plugins = await resolvePlugins(config as never, registry);
        } catch (err) {
          expectFermixRefusal(err, JSON.stringify(options)?.slice(0, 500) ?? String(options));
          for (const line of (err as Error).message.split('\n').slice(1)) expect(line).toMatch(/^ {2}- plugins\[0\]/);
          counts.refused++;
          return;
        }
        counts.accepted++;
        // Accepted options build a plugin that trains one step of a tiny model.
        const rng = new Rng(1);
        const ctx = { logger: silentLogger, container: undefined as never, rng };
        const model = buildModelForConfig({ model: { backbone: 'small-cnn', options: { widths: [2], convsPerStage: 1 }, weightsExclude: [], freezeBackbone: 0 }, data: { imageSize: 16 } } as never, 3, plugins, ctx, backbones);
        const step = createTrainStep({ model, optimizer: tf.train.sgd(0.01), plugins, rng });
        const x = tf.randomUniform([4, 16, 16, 3]) as tf.Tensor4D;
        const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3), 'float32') as tf.Tensor2D;
        try {
          const result = step({ x, y });
          expect(Number.isFinite(result.loss)).toBe(true);
        } finally {
          tf.dispose([x, y]);
          model.dispose();
        }
      },
      300,
    );
    console.log(`fuzz plugin options: ${counts.accepted} accepted (one step trained each), ${counts.refused} refused`);
    expect(counts.accepted).toBeGreaterThan(30);
    expect(counts.refused).toBeGreaterThan(100);
  });
});

// ---------------------------------------------------------------------------------------------
// The real command, for a sample

describe('fermix train --dry-run, the real process', () => {
  it('prints the setup of an accepted config, and refuses a broken one (alias bomb, tag, bad value) with exit 2, a YAML path and no stack trace', () => {
    fuzzSeed('real-process sample');
    const run = (text: string) => {
      const dir = mkdtempSync(path.join(scratch, 'real-'));
      writeFileSync(path.join(dir, 'fermix.config.yaml'), text);
      return { ...fermixSync(['train', '--dry-run'], dir), dir };
    };
    const good = run('data: { format: synthetic, imageSize: 16, trainPerClass: 2, testPerClass: 1 }\nmodel: { options: { widths: [4] } }\nplugins: [flip, { dropout: { rate: 0.5 } }]\n');
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/train: 14 images/);
    expect(good.stdout).toMatch(/model: small-cnn, [\d,]+ parameters, input 16x16x3/);
    expect(good.stdout).toMatch(/plugins: flip, dropout/);
    expect(readdirSync(good.dir)).toEqual(['fermix.config.yaml']); // nothing written
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)];
    // One refusal is enough here: every ConfigError takes the same way out (the cases above cover the messages).
    const refused = [run(`model:\n  options:\n    ${bomb.join('\n    ')}\n`)];
    for (const r of refused) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/(^|\n)fermix: invalid fermix config/);
      expect(r.stderr).toMatch(/\n {2}- \S+ \(fermix\.config\.yaml:\d+:\d+\): expected /);
      expect(r.stderr).not.toMatch(/\n\s+at \S/);
    }
  });
});
