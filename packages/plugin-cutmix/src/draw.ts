import * as tf from '@tensorflow/tfjs-core';
import type { View } from '@fermix/core';
import { mixTensor, samplePairing, sampleBeta, type MixRng, type Pairing } from '@fermix/plugin-mixup';
import { areaLambda, EMPTY_BOX, sampleBox, type Box } from './box.js';
import { boxMasks, pasteFromPartner } from './cutmix.js';

/** One decision for the whole batch (timm's `batch` mode) or one per sample (timm's `elem` mode). */
export type MixMode = 'batch' | 'sample';

/** What the draws need of a generator: fermix's `Rng`, or any object with these methods. */
export type CutmixRng = MixRng & { int(n: number): number };

/**
 * What to draw: timm's `Mixup(mixup_alpha, cutmix_alpha, prob, switch_prob, mode)`. An alpha of 0
 * (or undefined) turns that method off; with both on, `switchProb` is the chance of CutMix.
 */
export interface MixCutOptions {
  /** Beta(a, a) of mixup's lam; 0 or undefined: no mixup. */
  mixupAlpha?: number;
  /** Beta(a, a) of CutMix's lam; 0 or undefined: no CutMix. */
  cutmixAlpha?: number;
  /** Chance of CutMix rather than mixup when both are on (timm's `switch_prob`, default 0.5). */
  switchProb?: number;
  /** Chance that a batch (or sample) is mixed at all (timm's `prob`, default 1). */
  prob?: number;
  mode?: MixMode;
  pairing?: Pairing;
}

/**
 * What one step drew, per sample (in `batch` mode every entry is the same): the label weight `lam`
 * (area-corrected for a box, 1 for a sample left alone), whether the sample got a CutMix box (`cut`)
 * or a mixup blend, its box (empty when not cut), and the partner of each sample.
 */
export interface MixCutDraw {
  mode: MixMode;
  lam: number[];
  cut: boolean[];
  boxes: Box[];
  perm: Int32Array;
}

function checkAlpha(name: string, a: number | undefined): number {
  const v = a ?? 0;
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`cutmix: ${name} must be a finite number >= 0, got ${a}`);
  return v;
}

function checkProb(name: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`cutmix: ${name} must be in [0, 1], got ${p}`);
  return p;
}

/**
 * Draws from `rng`, in this order: per decision (one for the batch, or one per sample) a uniform
 * for `prob`, and if mixed, a uniform for `switchProb` (only when both methods are on) and lam ~
 * Beta(alpha, alpha) of the chosen method; then the pairing; then, for each CutMix decision, the box
 * centre (row, then column). Every draw comes from `rng`, so a seeded run repeats itself.
 */
export function drawMixCut(n: number, h: number, w: number, options: MixCutOptions, rng: CutmixRng): MixCutDraw {
  const mixupAlpha = checkAlpha('mixupAlpha', options.mixupAlpha);
  const cutmixAlpha = checkAlpha('cutmixAlpha', options.cutmixAlpha);
  if (mixupAlpha === 0 && cutmixAlpha === 0) throw new RangeError('cutmix: mixupAlpha or cutmixAlpha must be > 0');
  const switchProb = checkProb('switchProb', options.switchProb ?? 0.5);
  const prob = checkProb('prob', options.prob ?? 1);
  const mode = options.mode ?? 'batch';
  if (mode !== 'batch' && mode !== 'sample') throw new RangeError(`cutmix: mode must be batch or sample, got ${String(mode)}`);
  const decisions = mode === 'batch' ? 1 : n;
  const drawnLam: number[] = [];
  const cut: boolean[] = [];
  for (let i = 0; i < decisions; i++) {
    if (!(rng.uniform() < prob)) {
      drawnLam.push(1);
      cut.push(false);
      continue;
    }
    const useCut = mixupAlpha > 0 && cutmixAlpha > 0 ? rng.uniform() < switchProb : cutmixAlpha > 0;
    drawnLam.push(sampleBeta(useCut ? cutmixAlpha : mixupAlpha, rng));
    cut.push(useCut);
  }
  const perm = samplePairing(n, options.pairing ?? 'permutation', rng);
  const boxes = drawnLam.map((l, i) => (cut[i] ? sampleBox(h, w, l, rng) : { ...EMPTY_BOX }));
  const lam = drawnLam.map((l, i) => (cut[i] ? areaLambda(boxes[i], h, w) : l));
  const spread = <T>(a: T[]): T[] => (mode === 'batch' ? Array.from({ length: n }, () => a[0]) : a);
  return { mode, lam: spread(lam), cut: spread(cut), boxes: spread(boxes).map((b) => ({ ...b })), perm };
}

/** The draw as plain values for `ctx.record` and logs: one value per batch in `batch` mode, else arrays. */
export function recordedValues(draw: MixCutDraw): { lam: number | number[]; cut: boolean | boolean[]; box: Box | Box[]; perm: number[] } {
  const one = draw.mode === 'batch';
  return {
    lam: one ? draw.lam[0] : [...draw.lam],
    cut: one ? draw.cut[0] : [...draw.cut],
    box: one ? { ...draw.boxes[0] } : draw.boxes.map((b) => ({ ...b })),
    perm: Array.from(draw.perm),
  };
}

/** lam for `mixTensor`: one number in batch mode (a scalar broadcast), else one per sample. */
function lambdaOf(draw: MixCutDraw): number | number[] {
  return draw.mode === 'batch' ? draw.lam[0] : draw.lam;
}

/**
 * The images of a draw: x~_i = (1 - P_i) x_i + P_i x_perm[i], with P_i the box mask of a CutMix
 * sample and the constant 1 - lam_i of a mixup one (0 for a sample left alone). Batched tensor ops.
 */
export function mixCutImages(x: tf.Tensor4D, draw: MixCutDraw): tf.Tensor4D {
  const [n, h, w] = x.shape;
  if (draw.lam.length !== n) throw new Error(`cutmix: the draw is for ${draw.lam.length} samples, the batch has ${n}`);
  return tf.tidy(() => {
    const blend = tf.tensor4d(Float32Array.from(draw.lam, (l, i) => (draw.cut[i] ? 0 : 1 - l)), [n, 1, 1, 1]);
    if (!draw.cut.some(Boolean)) return pasteFromPartner(x, blend, draw.perm);
    // A CutMix sample's blend is 0, a mixup sample's mask is empty: their sum is each one's weight.
    const paste = tf.add(boxMasks(draw.boxes, h, w), blend);
    return pasteFromPartner(x, paste, draw.perm);
  });
}

/**
 * Mixes a view by a draw: images by `mixCutImages`, targets y~ = lam y_i + (1 - lam) y_perm[i] and
 * per-sample weights likewise. Keeps the view's group.
 */
export function mixCutView(view: View, draw: MixCutDraw): View {
  const lam = lambdaOf(draw);
  const x = mixCutImages(view.x, draw);
  const y = mixTensor(view.y, lam, draw.perm);
  const weight = typeof view.weight === 'number' ? view.weight : mixTensor(view.weight, lam, draw.perm);
  return { ...view, x, y, weight };
}
