/**
 * Checkpoints on the local file system.
 *
 * A `CheckpointStore` writes model + optimizer + run state into one folder (the model through
 * `fsIOHandler` of fs-io.ts) and swaps it into place atomically, so that a kill at any moment leaves
 * a good checkpoint.
 *
 * Folder layout:
 *   model.json + weights.bin       the model, loadable with `tf.loadLayersModel(fsIOHandler(dir))`
 *   optimizer.json + optimizer.bin the optimizer's getWeights(), aligned to model.trainableWeights
 *   state.json                     CheckpointState (epoch, step, best metric, rng states, ...)
 *   ema.json + ema.bin             optional: the weight EMA (train.ema), aligned to model.trainableWeights
 *   COMPLETE                       written last; lists every file with its size
 *
 * File IO here is synchronous on purpose: checkpoints are written between training steps when
 * nothing else runs, and sync calls keep the order of the durable steps (write, fsync, rename)
 * obvious. `exists()` has to be synchronous anyway.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { RngState } from './rng.js';
import {
  MODEL_JSON,
  WEIGHTS_BIN,
  randomTag,
  decodeInOrder,
  errorCode,
  errorMessage,
  fsIOHandler,
  fsyncDir,
  readJsonFile,
  readWeightsManifest,
  writeFileDurable,
} from './fs-io.js';

export { fsIOHandler };
import { silentLogger, type Logger } from './logger.js';

const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_BIN = 'optimizer.bin';
const STATE_JSON = 'state.json';
const EMA_JSON = 'ema.json';
const EMA_BIN = 'ema.bin';
const COMPLETE = 'COMPLETE';
/** Files the COMPLETE marker vouches for. */
const CHECKPOINT_FILES = [MODEL_JSON, WEIGHTS_BIN, OPTIMIZER_JSON, OPTIMIZER_BIN, STATE_JSON];
/** Files a checkpoint may have; when the marker lists them, they are vouched for too. */
const OPTIONAL_FILES = [EMA_JSON, EMA_BIN];

/** The run's progress, stored as state.json next to the weights. */
export interface CheckpointState {
  epoch: number;
  step: number;
  bestMetric: number | null;
  bestEpoch: number;
  monitor: string;
  rng: Record<string, RngState>;
  extra?: Record<string, unknown>;
}

type NamedTensor = { name: string; tensor: tf.Tensor };

// ---------------------------------------------------------------------------------------------
// Durable file helpers


interface CompleteMarker {
  format: 'fermix-checkpoint';
  version: 1;
  savedAt: number;
  /** File name -> size in bytes, checked by isComplete. */
  files: Record<string, number>;
}

function writeCompleteMarker(dir: string): void {
  const files: Record<string, number> = {};
  for (const name of CHECKPOINT_FILES) files[name] = fs.statSync(path.join(dir, name)).size;
  for (const name of OPTIONAL_FILES) if (fs.existsSync(path.join(dir, name))) files[name] = fs.statSync(path.join(dir, name)).size;
  const marker: CompleteMarker = { format: 'fermix-checkpoint', version: 1, savedAt: Date.now(), files };
  writeFileDurable(path.join(dir, COMPLETE), JSON.stringify(marker, null, 2));
}

function readCompleteMarker(dir: string): CompleteMarker | null {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dir, COMPLETE), 'utf8')) as CompleteMarker;
    return marker?.format === 'fermix-checkpoint' && marker.files != null ? marker : null;
  } catch {
    return null;
  }
}

/** Complete = COMPLETE marker present and every file it lists present with the recorded size. */
function isComplete(dir: string): boolean {
  const marker = readCompleteMarker(dir);
  if (!marker) return false;
  return [...CHECKPOINT_FILES, ...OPTIONAL_FILES.filter((name) => name in marker.files)].every((name) => {
    try {
      return fs.statSync(path.join(dir, name)).size === marker.files[name];
    } catch {
      return false;
    }
  });
}

type SiblingKind = 'tmp' | 'old';

function siblingPath(target: string, kind: SiblingKind): string {
  return `${target}.${kind}-${process.pid}-${randomTag()}`;
}

function listSiblings(target: string, kind: SiblingKind): string[] {
  const prefix = `${path.basename(target)}.${kind}-`;
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(target));
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix)).map((n) => path.join(path.dirname(target), n));
}

/** Temp folders this process is writing right now; other `<dir>.tmp-<our pid>-*` are leftovers. */
const activeTempDirs = new Set<string>();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/** A temp folder is stale when the process that wrote it is gone (or it is ours but no save is running). */
function isStaleTempDir(dir: string): boolean {
  if (activeTempDirs.has(dir)) return false;
  const pid = Number(path.basename(dir).split('.tmp-').pop()?.split('-')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  return pid === process.pid || !processIsAlive(pid);
}

/** Files a checkpoint folder may hold (including write side files); anything else is not ours to replace. */
function isCheckpointFileName(name: string): boolean {
  return name === COMPLETE || [...CHECKPOINT_FILES, ...OPTIONAL_FILES].some((f) => name === f || name.startsWith(`${f}.partial-`));
}

/** Entries of `dir` a checkpoint never writes (empty when `dir` does not exist). */
function foreignEntries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => !isCheckpointFileName(n));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Refuses to move aside (and later delete) a folder that holds files a checkpoint never writes. */
function assertReplaceable(target: string): void {
  const foreign = foreignEntries(target);
  if (foreign.length > 0) {
    throw new Error(
      `checkpoint: refusing to replace ${target}: it holds files that are not part of a checkpoint (${foreign.slice(0, 5).join(', ')})`,
    );
  }
}

/**
 * If `<dir>` is missing or incomplete but a complete `<dir>.old-*` exists (a save was killed between
 * moving the previous checkpoint aside and moving the new one in), moves the newest such one back.
 * Returns whether `<dir>` now holds a complete checkpoint.
 */
function recoverCheckpoint(target: string, logger: Logger): boolean {
  if (isComplete(target)) return true;
  const candidates = listSiblings(target, 'old')
    .map((dir) => ({ dir, marker: readCompleteMarker(dir) }))
    .filter((c) => c.marker !== null && isComplete(c.dir))
    .sort((a, b) => b.marker!.savedAt - a.marker!.savedAt);
  const best = candidates[0];
  if (!best) return false;
  if (foreignEntries(target).length > 0) {
    // Not a checkpoint folder of ours: never move user files aside (cleanup would delete them).
    logger.warn('checkpoint: not recovering, the folder holds files that are not part of a checkpoint', { dir: target });
    return false;
  }
  try {
    if (fs.existsSync(target)) {
      // Park the incomplete folder under an .old name; cleanup removes it once a good checkpoint is in place.
      fs.renameSync(target, siblingPath(target, 'old'));
    }
    fs.renameSync(best.dir, target);
  } catch (err) {
    // Another process may have recovered it first.
    if (isComplete(target)) return true;
    throw err;
  }
  fsyncDir(path.dirname(target));
  logger.warn('checkpoint: recovered the previous checkpoint left by an interrupted save', { from: best.dir, to: target });
  return true;
}

/**
 * Removes leftovers of earlier saves. Only called when `<dir>` is complete, so nothing removed
 * here can be the only complete checkpoint.
 */
function cleanupSiblings(target: string, logger: Logger): void {
  if (!isComplete(target)) return;
  const doomed = [...listSiblings(target, 'old'), ...listSiblings(target, 'tmp').filter(isStaleTempDir)];
  for (const dir of doomed) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      logger.debug('checkpoint: removed leftover folder', { dir });
    } catch (err) {
      logger.warn('checkpoint: could not remove leftover folder', { dir, error: errorMessage(err) });
    }
  }
}

/** Moves the finished temp folder to `<dir>`, parking the previous checkpoint as `<dir>.old-*` first. */
function swapIntoPlace(target: string, tmp: string, crashPoint: (stage: SaveStage) => void): void {
  const parent = path.dirname(target);
  for (let attempt = 1; ; attempt++) {
    let parked: string | null = null;
    if (fs.existsSync(target)) {
      parked = siblingPath(target, 'old');
      fs.renameSync(target, parked);
      fsyncDir(parent);
    }
    crashPoint('moved-old');
    try {
      fs.renameSync(tmp, target);
      fsyncDir(parent);
      return;
    } catch (err) {
      // A reader's recovery may have moved the parked checkpoint back in between our two renames: park again.
      const occupied = ['ENOTEMPTY', 'EEXIST', 'EPERM'].includes(errorCode(err) ?? '');
      if (occupied && attempt < 3) continue;
      // Leave things as they were before this save.
      if (parked && !fs.existsSync(target) && fs.existsSync(parked)) fs.renameSync(parked, target);
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Model weights

/** LayerVariable.read() is typed as a Tensor but is the backing tf.Variable (same name, assignable). */
function variableOf(w: tfl.LayerVariable): tf.Variable {
  return w.read() as tf.Variable;
}

function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.join(',')}]`;
}

function sameShape(a: readonly (number | null)[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** True when both lists hold the same unique names (possibly in another order). */
function namesMatch(a: string[], b: string[]): boolean {
  const setA = new Set(a);
  return a.length === b.length && setA.size === a.length && new Set(b).size === b.length && b.every((n) => setA.has(n));
}

/**
 * For each of `model.weights`, the index of the saved weight that goes into it. Names are matched
 * when the saved names are exactly the model's names (same process / same construction order);
 * otherwise by position, which is stable across rebuilds of the same architecture while the
 * auto-generated layer names are not. Every shape and dtype is verified before anything is assigned.
 */
function planWeightAssignment(model: tfl.LayersModel, specs: tf.io.WeightsManifestEntry[], source: string): number[] {
  const weights = model.weights;
  if (weights.length !== specs.length) {
    throw new Error(`${source}: the checkpoint holds ${specs.length} weights but the model has ${weights.length}`);
  }
  const modelNames = weights.map((w) => w.originalName);
  const savedNames = specs.map((s) => s.name);
  const byName = namesMatch(modelNames, savedNames);
  return weights.map((w, i) => {
    const j = byName ? savedNames.indexOf(w.originalName) : i;
    const spec = specs[j];
    if (!sameShape(w.shape, spec.shape)) {
      throw new Error(
        `${source}: shape mismatch for weight '${w.originalName}' (position ${i}): the model has ` +
          `${formatShape(w.shape)}, the checkpoint has ${formatShape(spec.shape)} (saved as '${spec.name}')`,
      );
    }
    if (w.dtype !== spec.dtype) {
      throw new Error(
        `${source}: dtype mismatch for weight '${w.originalName}' (position ${i}): the model has ${w.dtype}, ` +
          `the checkpoint has ${spec.dtype} (saved as '${spec.name}')`,
      );
    }
    return j;
  });
}

/** Decoded model weights, ready to assign. Owns its tensors until disposed. */
interface PreparedWeights {
  apply(): void;
  dispose(): void;
}

function prepareModelWeights(dir: string, model: tfl.LayersModel): PreparedWeights {
  const jsonFile = path.join(dir, MODEL_JSON);
  const modelJSON = readJsonFile(jsonFile) as tf.io.ModelJSON;
  const { specs, data } = readWeightsManifest(dir, modelJSON.weightsManifest ?? [], jsonFile);
  const tensors = decodeInOrder(specs, data);
  try {
    // A model.json saved with includeOptimizer also carries optimizer weights: not model weights.
    const keep = specs.map((s, i) => ({ spec: s, tensor: tensors[i] })).filter((e) => e.spec.group !== 'optimizer');
    const plan = planWeightAssignment(
      model,
      keep.map((e) => e.spec),
      jsonFile,
    );
    return {
      apply() {
        // Assign the tf.Variable directly: LayerVariable.write() would re-apply weight constraints,
        // which is not an exact restore.
        model.weights.forEach((w, i) => variableOf(w).assign(keep[plan[i]].tensor));
      },
      dispose: () => tf.dispose(tensors),
    };
  } catch (err) {
    tf.dispose(tensors);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer state

/**
 * What each entry of optimizer.getWeights() is. tfjs optimizers name their slot variables
 * `<variable name>/<suffix>` (Adam: /m and /v) and index them by position in the list of
 * variables passed to applyGradients; variable names change when the model is rebuilt, so the
 * slot is recorded as an index into model.trainableWeights.
 */
type OptimizerSlot = { kind: 'iterations' } | { kind: 'variable'; trainableIndex: number; suffix: string };

interface OptimizerFile {
  format: 'fermix-optimizer';
  version: 1;
  className: string;
  iterations: number;
  /** Aligned with the weights in weightsManifest, in getWeights() order. */
  slots: OptimizerSlot[];
  weightsManifest: tf.io.WeightsManifestConfig;
}

function trainableVariableNames(model: tfl.LayersModel): string[] {
  return model.trainableWeights.map((w) => variableOf(w).name);
}

function describeSlot(name: string, position: number, indexByVariable: Map<string, number>): OptimizerSlot {
  if (position === 0 && name === 'iter') return { kind: 'iterations' };
  const cut = name.lastIndexOf('/');
  const variable = cut > 0 ? name.slice(0, cut) : name;
  const trainableIndex = indexByVariable.get(variable);
  if (cut <= 0 || trainableIndex === undefined) {
    throw new Error(
      `checkpoint: optimizer slot '${name}' does not belong to any of model.trainableWeights; ` +
        `the optimizer must train this model's weights only`,
    );
  }
  return { kind: 'variable', trainableIndex, suffix: name.slice(cut + 1) };
}

async function getOptimizerWeights(optimizer: tf.Optimizer): Promise<NamedTensor[]> {
  try {
    return await optimizer.getWeights();
  } catch (err) {
    throw new Error(`checkpoint: cannot read the state of optimizer ${optimizer.getClassName()}: ${errorMessage(err)}`);
  }
}

/**
 * getWeights() returns the optimizer's live slot variables (not ours to free) and freshly made
 * tensors such as the iterations scalar (ours to free).
 */
function disposeNonVariables(weights: NamedTensor[]): void {
  for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
}

async function writeOptimizerState(dir: string, optimizer: tf.Optimizer, model: tfl.LayersModel): Promise<void> {
  const weights = await getOptimizerWeights(optimizer);
  try {
    const indexByVariable = new Map(trainableVariableNames(model).map((name, i) => [name, i] as [string, number]));
    const slots = weights.map((w, i) => describeSlot(w.name, i, indexByVariable));
    const { data, specs } = await tf.io.encodeWeights(weights);
    const file: OptimizerFile = {
      format: 'fermix-optimizer',
      version: 1,
      className: optimizer.getClassName(),
      iterations: optimizer.iterations,
      slots,
      weightsManifest: [{ paths: [OPTIMIZER_BIN], weights: specs }],
    };
    writeFileDurable(path.join(dir, OPTIMIZER_BIN), new Uint8Array(data));
    writeFileDurable(path.join(dir, OPTIMIZER_JSON), JSON.stringify(file, null, 2));
  } finally {
    disposeNonVariables(weights);
  }
}

function readOptimizerFile(dir: string): OptimizerFile {
  const jsonFile = path.join(dir, OPTIMIZER_JSON);
  const file = readJsonFile(jsonFile) as OptimizerFile;
  if (file?.format !== 'fermix-optimizer' || !Array.isArray(file.slots) || !Array.isArray(file.weightsManifest)) {
    throw new Error(`${jsonFile}: not a fermix optimizer state file`);
  }
  return file;
}

/**
 * Optimizers that can take another's saved state: fermix's Adam keeps exactly the slots of tfjs's
 * (iterations, then every m, then every v), so a run checkpointed before fermix had its own Adam resumes.
 */
const COMPATIBLE_STATE: Record<string, string[]> = { FermixAdam: ['Adam'] };

/** Decoded optimizer state, ready to set. Owns its tensors until disposed. */
interface PreparedOptimizerState {
  apply(): Promise<void>;
  dispose(): void;
}

/**
 * Decodes optimizer.bin and names every slot after the variable it belongs to now, so that
 * `setWeights` puts slot k at position k exactly as before and later getWeights() names are right.
 * Validates everything first; `apply()` then only mutates.
 */
async function prepareOptimizerState(
  dir: string,
  optimizer: tf.Optimizer,
  model: tfl.LayersModel,
): Promise<PreparedOptimizerState> {
  const source = path.join(dir, OPTIMIZER_JSON);
  const file = readOptimizerFile(dir);
  if (file.className !== optimizer.getClassName() && !COMPATIBLE_STATE[optimizer.getClassName()]?.includes(file.className)) {
    throw new Error(`${source}: the checkpoint holds ${file.className} state but the optimizer is ${optimizer.getClassName()}`);
  }
  const { specs, data } = readWeightsManifest(dir, file.weightsManifest, source);
  if (specs.length !== file.slots.length) {
    throw new Error(`${source}: ${file.slots.length} slots described but ${specs.length} weights stored`);
  }
  const trainable = model.trainableWeights;
  const names = file.slots.map((slot, i) => {
    if (slot.kind === 'iterations') return 'iter';
    const target = trainable[slot.trainableIndex];
    if (target === undefined) {
      throw new Error(
        `${source}: optimizer slot '${specs[i].name}' belongs to trainable weight #${slot.trainableIndex}, ` +
          `but the model has ${trainable.length} trainable weights`,
      );
    }
    if (!sameShape(target.shape, specs[i].shape)) {
      throw new Error(
        `${source}: shape mismatch for optimizer slot '${specs[i].name}' of weight '${target.originalName}': ` +
          `the model has ${formatShape(target.shape)}, the checkpoint has ${formatShape(specs[i].shape)}`,
      );
    }
    return `${variableOf(target).name}/${slot.suffix}`;
  });
  // Reading the current state fails for optimizers without getWeights: find out before anything changes.
  const previous = await getOptimizerWeights(optimizer);
  disposeNonVariables(previous);
  const previousVariables = previous.map((w) => w.tensor).filter((t) => t instanceof tf.Variable);
  const tensors = decodeInOrder(specs, data);
  return {
    async apply() {
      await optimizer.setWeights(tensors.map((tensor, i) => ({ name: names[i], tensor })));
      // setWeights makes new variables from our tensors; the slot variables it replaced are orphaned
      // now, so free them (unless the optimizer kept some) to keep numTensors flat across loads.
      const current = await optimizer.getWeights();
      const live = new Set(current.map((w) => w.tensor));
      for (const v of previousVariables) if (!live.has(v) && !v.isDisposed) v.dispose();
      disposeNonVariables(current);
    },
    dispose: () => tf.dispose(tensors),
  };
}

// ---------------------------------------------------------------------------------------------
// Weight EMA

interface EmaFile {
  format: 'fermix-ema';
  version: 1;
  decay: number;
  weightsManifest: tf.io.WeightsManifestConfig;
}

/** The averages are named `ema/<index into model.trainableWeights>`, which survives a rebuild. */
async function writeEmaState(dir: string, ema: CheckpointEma, model: tfl.LayersModel): Promise<void> {
  const count = model.trainableWeights.length;
  if (ema.shadows.length !== count) throw new Error(`checkpoint: the EMA holds ${ema.shadows.length} weights but the model has ${count} trainable weights`);
  const { data, specs } = await tf.io.encodeWeights(ema.shadows.map((tensor, i) => ({ name: `ema/${i}`, tensor })));
  const file: EmaFile = { format: 'fermix-ema', version: 1, decay: ema.decay, weightsManifest: [{ paths: [EMA_BIN], weights: specs }] };
  writeFileDurable(path.join(dir, EMA_BIN), new Uint8Array(data));
  writeFileDurable(path.join(dir, EMA_JSON), JSON.stringify(file, null, 2));
}

/** Decoded EMA averages checked against the model's trainable weights, or null when the checkpoint has none. */
function prepareEmaState(dir: string, model: tfl.LayersModel): tf.Tensor[] | null {
  const jsonFile = path.join(dir, EMA_JSON);
  if (!fs.existsSync(jsonFile)) return null;
  const file = readJsonFile(jsonFile) as EmaFile;
  if (file?.format !== 'fermix-ema' || !Array.isArray(file.weightsManifest)) throw new Error(`${jsonFile}: not a fermix EMA file`);
  const { specs, data } = readWeightsManifest(dir, file.weightsManifest, jsonFile);
  const trainable = model.trainableWeights;
  if (specs.length !== trainable.length) throw new Error(`${jsonFile}: ${specs.length} averages but the model has ${trainable.length} trainable weights`);
  specs.forEach((spec, i) => {
    if (!sameShape(trainable[i].shape, spec.shape)) {
      throw new Error(`${jsonFile}: shape mismatch for the average of '${trainable[i].originalName}': the model has ${formatShape(trainable[i].shape)}, the checkpoint has ${formatShape(spec.shape)}`);
    }
  });
  return decodeInOrder(specs, data);
}

/** What a checkpoint keeps of a weight EMA (see train/ema.ts). */
export interface CheckpointEma {
  readonly decay: number;
  readonly shadows: readonly tf.Tensor[];
  setValues(values: readonly tf.Tensor[]): void;
}

// ---------------------------------------------------------------------------------------------
// state.json

function isRngState(value: unknown): value is RngState {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    value.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)
  );
}

/** Checks a CheckpointState; JSON would silently turn NaN/Infinity into null, so they are rejected. */
function validateState(value: unknown, source: string): CheckpointState {
  const fail = (why: string): never => {
    throw new Error(`${source}: invalid checkpoint state: ${why}`);
  };
  if (value == null || typeof value !== 'object' || Array.isArray(value)) fail('not an object');
  const s = value as Record<string, unknown>;
  for (const key of ['epoch', 'step', 'bestEpoch'] as const) {
    if (typeof s[key] !== 'number' || !Number.isFinite(s[key])) fail(`${key} must be a finite number, got ${String(s[key])}`);
  }
  if (s.bestMetric !== null && (typeof s.bestMetric !== 'number' || !Number.isFinite(s.bestMetric))) {
    fail(`bestMetric must be a finite number or null, got ${String(s.bestMetric)}`);
  }
  if (typeof s.monitor !== 'string') fail('monitor must be a string');
  if (s.rng == null || typeof s.rng !== 'object' || Array.isArray(s.rng)) fail('rng must be an object of rng states');
  for (const [name, state] of Object.entries(s.rng as object)) {
    if (!isRngState(state)) fail(`rng.${name} is not four uint32 values: ${JSON.stringify(state)}`);
  }
  if (s.extra !== undefined && (s.extra === null || typeof s.extra !== 'object' || Array.isArray(s.extra))) {
    fail('extra must be an object when present');
  }
  return s as unknown as CheckpointState;
}

// ---------------------------------------------------------------------------------------------
// CheckpointStore

/** Points inside save() in the order they are reached; used by tests to simulate a kill. */
export type SaveStage = 'model' | 'optimizer' | 'state' | 'complete' | 'moved-old' | 'swapped';

export interface CheckpointStoreOptions {
  logger?: Logger;
  /**
   * Test hook: after reaching this stage save() throws as if the process had been killed there,
   * skipping every cleanup. Not for production use.
   * @internal
   */
  crashAfter?: SaveStage;
}

class SimulatedCrash extends Error {
  constructor(stage: SaveStage) {
    super(`checkpoint: simulated crash after stage '${stage}'`);
    this.name = 'SimulatedCrash';
  }
}

export class CheckpointStore {
  private readonly logger: Logger;
  private readonly crashAfter: SaveStage | undefined;

  constructor(options: CheckpointStoreOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.crashAfter = options.crashAfter;
  }

  /**
   * Writes model, optimizer state and run state to a sibling temp folder, then swaps it into
   * place as `dir`. At every moment either `dir` or a `dir.old-*` is a complete checkpoint.
   */
  async save(
    dir: string,
    { model, optimizer, state, ema }: { model: tfl.LayersModel; optimizer: tf.Optimizer; state: CheckpointState; ema?: CheckpointEma },
  ): Promise<void> {
    const target = path.resolve(dir);
    validateState(state, 'checkpoint.save');
    const stateJson = JSON.stringify(state, null, 2);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Put a checkpoint left in `.old-*` by a killed save back first, so it is the one parked below.
    recoverCheckpoint(target, this.logger);
    assertReplaceable(target);

    const tmp = siblingPath(target, 'tmp');
    activeTempDirs.add(tmp);
    try {
      fs.mkdirSync(tmp);
      await this.writeContents(tmp, model, optimizer, stateJson, ema);
      swapIntoPlace(target, tmp, (stage) => this.crashPoint(stage));
    } catch (err) {
      // A real failure: drop the partial temp folder. A simulated kill leaves it, as a kill would.
      if (!(err instanceof SimulatedCrash)) fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    } finally {
      activeTempDirs.delete(tmp);
    }
    this.crashPoint('swapped');
    cleanupSiblings(target, this.logger);
    this.logger.debug('checkpoint: saved', { dir: target, epoch: state.epoch, step: state.step });
  }

  /**
   * Loads weights into `model` (already built, same architecture), restores the optimizer state (and
   * the weight EMA, when given and saved) and returns the run state. Everything is read and
   * validated before the model, optimizer or EMA change. An EMA the checkpoint lacks starts from the loaded weights.
   */
  async load(dir: string, { model, optimizer, ema }: { model: tfl.LayersModel; optimizer: tf.Optimizer; ema?: CheckpointEma }): Promise<CheckpointState> {
    const target = this.resolveForRead(dir);
    const state = validateState(readJsonFile(path.join(target, STATE_JSON)), path.join(target, STATE_JSON));
    const weights = prepareModelWeights(target, model);
    try {
      const averages = ema ? prepareEmaState(target, model) : null;
      try {
        const optimizerState = await prepareOptimizerState(target, optimizer, model);
        try {
          weights.apply();
          await optimizerState.apply();
          if (averages) ema!.setValues(averages);
          else if (ema) ema.setValues(model.trainableWeights.map((w) => variableOf(w)));
        } finally {
          optimizerState.dispose();
        }
      } finally {
        if (averages) tf.dispose(averages);
      }
    } finally {
      weights.dispose();
    }
    if (ema && !fs.existsSync(path.join(target, EMA_JSON))) this.logger.warn('checkpoint: no EMA in it; the EMA starts from the loaded weights', { dir: target });
    this.logger.debug('checkpoint: loaded', { dir: target, epoch: state.epoch, step: state.step });
    return state;
  }

  /** Loads only the model weights (for evaluation or inference). */
  async loadWeights(dir: string, model: tfl.LayersModel): Promise<void> {
    const target = this.resolveForRead(dir);
    const weights = prepareModelWeights(target, model);
    try {
      weights.apply();
    } finally {
      weights.dispose();
    }
  }

  /** Whether a complete checkpoint is at `dir` (recovering one from an interrupted save first). */
  exists(dir: string): boolean {
    const target = path.resolve(dir);
    try {
      return recoverCheckpoint(target, this.logger);
    } catch (err) {
      this.logger.warn('checkpoint: recovery failed', { dir: target, error: errorMessage(err) });
      return isComplete(target);
    }
  }

  private resolveForRead(dir: string): string {
    const target = path.resolve(dir);
    if (!recoverCheckpoint(target, this.logger)) {
      throw new Error(`checkpoint: no complete checkpoint at ${target}`);
    }
    // A save killed after its swap left the previous checkpoint parked beside this complete one (or
    // a dead process's temp folder): a run resumed with nothing left to train saves nothing that
    // would remove them.
    cleanupSiblings(target, this.logger);
    return target;
  }

  private async writeContents(tmp: string, model: tfl.LayersModel, optimizer: tf.Optimizer, stateJson: string, ema?: CheckpointEma): Promise<void> {
    await model.save(fsIOHandler(tmp));
    this.crashPoint('model');
    await writeOptimizerState(tmp, optimizer, model);
    if (ema) await writeEmaState(tmp, ema, model);
    this.crashPoint('optimizer');
    writeFileDurable(path.join(tmp, STATE_JSON), stateJson);
    this.crashPoint('state');
    writeCompleteMarker(tmp);
    fsyncDir(tmp);
    this.crashPoint('complete');
  }

  private crashPoint(stage: SaveStage): void {
    if (this.crashAfter === stage) throw new SimulatedCrash(stage);
  }
}
