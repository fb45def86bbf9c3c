/**
 * Class imbalance helpers, pure functions over label arrays: counts, "balanced" class weights for
 * the loss, and a class-balanced epoch order for the sampler. Expression datasets are heavily
 * skewed (RAF-DB train: 4,772 happy, 281 fear; AffectNet: ~135k happy, ~4k contempt).
 */
import type { Rng } from '../rng.js';

/** Samples per class: `counts[c]` = how many labels equal c. Throws on a label outside 0..k-1. */
export function classCounts(labels: ArrayLike<number>, k: number): number[] {
  checkClassCount(k);
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= k) throw new RangeError(`label ${label} at index ${i} is outside 0..${k - 1}`);
    counts[label]++;
  }
  return counts;
}

/**
 * scikit-learn's "balanced" weights, n / (k * count_c): each class then carries the same total
 * weight in the loss, and a balanced dataset gets weight 1 everywhere. A class without samples
 * gets 0 (it never occurs, so its weight never applies; Infinity would poison a weight tensor).
 */
export function balancedClassWeights(labels: ArrayLike<number>, k: number): number[] {
  const counts = classCounts(labels, k);
  return counts.map((count) => (count === 0 ? 0 : labels.length / (k * count)));
}

/**
 * An epoch order of `count` sample indices in which every class that has samples appears equally
 * often (± 1): the classes are dealt round-robin, the remainder to random classes, then shuffled.
 * Within a class, samples are drawn without replacement from a shuffled list that is reshuffled
 * when used up, so a minority class is repeated (oversampled) and a majority class is subsampled,
 * and no sample repeats before its whole class has been seen.
 */
export function balancedOrder(labels: ArrayLike<number>, k: number, count: number, rng: Rng): Int32Array {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be an integer >= 0, got ${count}`);
  const members = membersByClass(labels, k).filter((m) => m.length > 0);
  if (members.length === 0) {
    if (count === 0) return new Int32Array(0);
    throw new RangeError('balancedOrder: no samples to draw from');
  }
  const classSlots = dealClasses(members.length, count, rng);
  const draws = members.map((m) => new ClassDraw(m, rng));
  return Int32Array.from(classSlots, (c) => draws[c].next());
}

function checkClassCount(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`number of classes must be an integer >= 1, got ${k}`);
}

/** Sample indices of each class, in index order. */
function membersByClass(labels: ArrayLike<number>, k: number): Int32Array[] {
  const counts = classCounts(labels, k);
  const members = counts.map((n) => new Int32Array(n));
  const filled = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) members[labels[i]][filled[labels[i]]++] = i;
  return members;
}

/** `count` slots over `classes` classes, each class floor(count / classes) or one more times, shuffled. */
function dealClasses(classes: number, count: number, rng: Rng): Int32Array {
  const slots = new Int32Array(count);
  const full = count - (count % classes);
  for (let i = 0; i < full; i++) slots[i] = i % classes;
  const extra = rng.permutation(classes); // which classes get the remainder
  for (let i = full; i < count; i++) slots[i] = extra[i - full];
  return rng.shuffle(slots);
}

/** Draws one class's samples without replacement, reshuffling when all have been drawn. */
class ClassDraw {
  private order: Int32Array;
  private at = 0;

  constructor(
    private readonly members: Int32Array,
    private readonly rng: Rng,
  ) {
    this.order = this.shuffled();
  }

  next(): number {
    if (this.at === this.order.length) {
      this.order = this.shuffled();
      this.at = 0;
    }
    return this.order[this.at++];
  }

  private shuffled(): Int32Array {
    return this.rng.shuffle(Int32Array.from(this.members));
  }
}
