/**
 * Optimizers with PyTorch's update rules, as tfjs `Optimizer`s.
 *
 * The rule: each class computes exactly what `torch.optim` 1.13 computes for the same name (SGD with
 * momentum, nesterov and dampening 0; Adam; AdamW; RMSprop uncentred), including what
 * `weight_decay` means there: an L2 term added to the gradient for sgd, adam and rmsprop, a
 * decoupled shrink `p *= 1 - lr * wd` for adamw. tests/optimizers.test.ts checks 100 steps of each
 * against trajectories recorded from PyTorch (scripts/torch-reference.py).
 *
 * They keep their slots as tfjs optimizers do (`<variable>/<suffix>`, one list per suffix, in the
 * order of the variables given to `applyGradients`), so `CheckpointStore` saves and restores them
 * like tfjs's own, and `learningRate` is a plain field a schedule sets before each step.
 */
import * as tf from '@tensorflow/tfjs-core';

type NamedTensor = { name: string; tensor: tf.Tensor };

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'adam', 'adamw', 'rmsprop'];

export interface OptimizerSettings {
  name: OptimizerName;
  lr: number;
  /** sgd and rmsprop: momentum factor (0: none). Default 0. */
  momentum?: number;
  /** sgd: Nesterov momentum. Default false. */
  nesterov?: boolean;
  /** adam, adamw: [beta1, beta2]. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** adam, adamw, rmsprop: the denominator's epsilon. Default 1e-8. */
  eps?: number;
  /** rmsprop: smoothing constant of the squared-gradient average. Default 0.99. */
  alpha?: number;
  /** L2 (sgd, adam, rmsprop) or decoupled (adamw) weight decay. Default 0 (adamw: 0.01, as PyTorch). */
  weightDecay?: number;
}

/** A slot list: one variable per optimised variable, by position. */
interface Slot {
  originalName: string;
  variable: tf.Variable;
}

/**
 * The shared part: slots by suffix, iterations, the weight-decay choice per variable and the
 * variables to leave alone (frozen ones: no update, no decay, as a PyTorch parameter without grad).
 */
export abstract class FermixOptimizer extends tf.Optimizer {
  /** Set by a schedule before each step. */
  learningRate: number;
  readonly weightDecay: number;
  /**
   * Whether a variable takes weight decay, by name; all do when null. `noDecayForNormAndBias` makes
   * the usual split (timm): rank-1 variables (biases, batch-norm scale and offset) are not decayed.
   */
  decays: ((variable: tf.Variable) => boolean) | null = null;
  /** Names of variables this step must not touch (frozen); null: none. */
  skip: Set<string> | null = null;
  private readonly slots: Record<string, Slot[]> = {};

  protected constructor(
    lr: number,
    weightDecay: number,
    private readonly suffixes: string[],
  ) {
    super();
    this.learningRate = lr;
    this.weightDecay = weightDecay;
    for (const s of suffixes) this.slots[s] = [];
  }

  /** One variable's update, inside a tidy; `slots` are this variable's slot variables by suffix. */
  protected abstract update(value: tf.Variable, gradient: tf.Tensor, slots: Record<string, tf.Variable>, decay: number, t: number): void;

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const t = this.iterations + 1;
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        const mine: Record<string, tf.Variable> = {};
        for (const s of this.suffixes) {
          this.slots[s][i] ??= { originalName: `${name}/${s}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
          mine[s] = this.slots[s][i].variable;
        }
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (gradient == null || this.skip?.has(name)) return;
        const decay = this.weightDecay > 0 && (this.decays?.(value) ?? true) ? this.weightDecay : 0;
        this.update(value, gradient, mine, decay, t);
      });
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const variables = this.suffixes.flatMap((s) => this.slots[s]);
    return [await this.saveIterations(), ...variables.map((v) => ({ name: v.originalName, tensor: v.variable }))];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const values = await this.extractIterations(weightValues);
    const n = this.suffixes.length === 0 ? 0 : values.length / this.suffixes.length;
    if (!Number.isInteger(n)) throw new Error(`${this.getClassName()}: ${values.length} slot tensors do not split into ${this.suffixes.join(', ')}`);
    this.suffixes.forEach((s, k) => {
      tf.dispose(this.slots[s].map((v) => v.variable));
      this.slots[s] = values.slice(k * n, (k + 1) * n).map((v) => ({ originalName: v.name, variable: v.tensor.variable(false) }));
    });
  }

  override dispose(): void {
    for (const s of this.suffixes) tf.dispose(this.slots[s].map((v) => v.variable));
    super.dispose();
  }
}

/** `torch.optim.SGD`: momentum with dampening 0, optionally Nesterov; L2 weight decay. */
export class SGD extends FermixOptimizer {
  static get className(): string {
    return 'FermixSGD';
  }
  constructor(
    lr: number,
    readonly momentum = 0,
    readonly nesterov = false,
    weightDecay = 0,
  ) {
    super(lr, weightDecay, momentum > 0 ? ['momentum'] : []);
    if (nesterov && momentum <= 0) throw new Error('sgd: nesterov needs a momentum > 0');
  }
  protected update(value: tf.Variable, gradient: tf.Tensor, slots: Record<string, tf.Variable>, decay: number): void {
    let d = decay > 0 ? tf.add(gradient, tf.mul(value, decay)) : gradient;
    if (this.momentum > 0) {
      const buf = slots.momentum;
      // PyTorch starts the buffer at the first gradient; momentum * 0 + g is the same.
      const next = tf.add(tf.mul(buf, this.momentum), d);
      buf.assign(next);
      d = this.nesterov ? tf.add(d, tf.mul(next, this.momentum)) : next;
    }
    value.assign(tf.sub(value, tf.mul(d, this.learningRate)));
  }
  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }
  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, c: tf.serialization.ConfigDict): T {
    return new (cls as any)(c.learningRate, c.momentum, c.nesterov, c.weightDecay);
  }
}

/** `torch.optim.Adam` (L2 weight decay added to the gradient); `decoupled` makes it `torch.optim.AdamW`. */
export class Adam extends FermixOptimizer {
  static get className(): string {
    return 'FermixAdam';
  }
  constructor(
    lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
    weightDecay = 0,
  ) {
    super(lr, weightDecay, ['m', 'v']);
  }
  protected get decoupled(): boolean {
    return false;
  }
  protected update(value: tf.Variable, gradient: tf.Tensor, slots: Record<string, tf.Variable>, decay: number, t: number): void {
    let g = gradient;
    let p: tf.Tensor = value;
    if (decay > 0 && this.decoupled) p = tf.mul(value, 1 - this.learningRate * decay);
    else if (decay > 0) g = tf.add(gradient, tf.mul(value, decay));
    const m = tf.add(tf.mul(slots.m, this.beta1), tf.mul(g, 1 - this.beta1));
    const v = tf.add(tf.mul(slots.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    slots.m.assign(m);
    slots.v.assign(v);
    // Bias corrections in float64, as PyTorch computes them in Python.
    const stepSize = this.learningRate / (1 - this.beta1 ** t);
    const correction2 = Math.sqrt(1 - this.beta2 ** t);
    const denom = tf.add(tf.div(tf.sqrt(v), correction2), this.eps);
    value.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
  }
  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }
  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, c: tf.serialization.ConfigDict): T {
    return new (cls as any)(c.learningRate, c.beta1, c.beta2, c.eps, c.weightDecay);
  }
}

/** `torch.optim.AdamW`: Adam with decoupled weight decay (Loshchilov and Hutter), `p *= 1 - lr * wd` before the step. */
export class AdamW extends Adam {
  static get className(): string {
    return 'AdamW';
  }
  constructor(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01) {
    super(lr, beta1, beta2, eps, weightDecay);
  }
  protected override get decoupled(): boolean {
    return true;
  }
}

/** `torch.optim.RMSprop`, uncentred: eps outside the square root, lr applied to the momentum buffer. */
export class RMSprop extends FermixOptimizer {
  static get className(): string {
    return 'FermixRMSprop';
  }
  constructor(
    lr: number,
    readonly alpha = 0.99,
    readonly eps = 1e-8,
    readonly momentum = 0,
    weightDecay = 0,
  ) {
    super(lr, weightDecay, momentum > 0 ? ['square_avg', 'momentum'] : ['square_avg']);
  }
  protected update(value: tf.Variable, gradient: tf.Tensor, slots: Record<string, tf.Variable>, decay: number): void {
    const g = decay > 0 ? tf.add(gradient, tf.mul(value, decay)) : gradient;
    const squareAvg = tf.add(tf.mul(slots.square_avg, this.alpha), tf.mul(tf.square(g), 1 - this.alpha));
    slots.square_avg.assign(squareAvg);
    const avg = tf.add(tf.sqrt(squareAvg), this.eps);
    if (this.momentum > 0) {
      const buf = tf.add(tf.mul(slots.momentum, this.momentum), tf.div(g, avg));
      slots.momentum.assign(buf);
      value.assign(tf.sub(value, tf.mul(buf, this.learningRate)));
    } else {
      value.assign(tf.sub(value, tf.mul(tf.div(g, avg), this.learningRate)));
    }
  }
  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, alpha: this.alpha, eps: this.eps, momentum: this.momentum, weightDecay: this.weightDecay };
  }
  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, c: tf.serialization.ConfigDict): T {
    return new (cls as any)(c.learningRate, c.alpha, c.eps, c.momentum, c.weightDecay);
  }
}

for (const cls of [SGD, Adam, AdamW, RMSprop]) tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** timm's split: rank-1 variables (biases, batch-norm gamma and beta) take no weight decay. */
export function decaysUnlessNormOrBias(variable: tf.Variable): boolean {
  return variable.rank > 1;
}

/**
 * Makes the optimizer a config names. `noDecayForNormAndBias` leaves biases and batch-norm
 * parameters undecayed.
 */
export function createOptimizer(settings: OptimizerSettings & { noDecayForNormAndBias?: boolean }): FermixOptimizer {
  const wd = settings.weightDecay;
  const eps = settings.eps ?? 1e-8;
  const [b1, b2] = settings.betas ?? [0.9, 0.999];
  let optimizer: FermixOptimizer;
  switch (settings.name) {
    case 'sgd':
      optimizer = new SGD(settings.lr, settings.momentum ?? 0, settings.nesterov ?? false, wd ?? 0);
      break;
    case 'adam':
      optimizer = new Adam(settings.lr, b1, b2, eps, wd ?? 0);
      break;
    case 'adamw':
      optimizer = new AdamW(settings.lr, b1, b2, eps, wd ?? 0.01);
      break;
    case 'rmsprop':
      optimizer = new RMSprop(settings.lr, settings.alpha ?? 0.99, eps, settings.momentum ?? 0, wd ?? 0);
      break;
    default:
      throw new Error(`unknown optimizer "${(settings as { name: string }).name}" (one of ${OPTIMIZER_NAMES.join(', ')})`);
  }
  if (settings.noDecayForNormAndBias) optimizer.decays = decaysUnlessNormOrBias;
  return optimizer;
}

/** Sets the learning rate of a fermix optimizer or of tfjs's own (which differ in how they hold it). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate?: number };
  if (optimizer instanceof FermixOptimizer || typeof o.setLearningRate !== 'function') {
    if (typeof o.learningRate !== 'number') throw new Error(`cannot set the learning rate of optimizer ${optimizer.getClassName()}`);
    o.learningRate = lr;
  } else {
    o.setLearningRate(lr);
  }
}
