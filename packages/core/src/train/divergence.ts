/**
 * A run that diverged: a loss or a weight that is NaN or infinite. The trainer reads losses a few
 * steps at a time (the loss stays on the backend in between), so the check names the first bad
 * step of the window it reads, and it checks the weights once more before an epoch's evaluation
 * and checkpoint, so a checkpoint never holds weights that a last step broke.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Where the run stopped, for the message and for programs that catch the error. */
export interface DivergenceDetail {
  /** 1-based epoch and step within it. */
  epoch: number;
  step: number;
  /** 0-based step of the whole run (the step's `ctx.step`). */
  runStep: number;
  /** The loss and its terms at that step; empty for a weights check. */
  loss?: number;
  terms?: Record<string, number>;
  /** The learning rate of that step. */
  lr?: number;
  /** Names of the weights that are not finite (weights check). */
  weights?: string[];
  /** The likely cause and what to change, in words. */
  cause: string;
  /** The last checkpoint that stays, if any (e.g. "checkpoints/last, epoch 2"). */
  kept?: string;
}

/** The run diverged: printed without a stack, with what to change. */
export class DivergenceError extends Error {
  constructor(readonly detail: DivergenceDetail) {
    super(divergenceMessage(detail));
    this.name = 'DivergenceError';
  }
}

function formatTerms(terms: Record<string, number>): string {
  return Object.entries(terms)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
}

/** The likely cause of a non-finite loss at a step: the data or the model at the run's first step, else a learning rate too high. */
export function likelyCause(runStep: number, lr: number | undefined): string {
  if (runStep === 0) {
    return 'at the first step of the run, before any update, so the data or the model is the likely cause: check the images for NaN or infinite pixels, and the pretrained weights (model.weights)';
  }
  return (
    `the training diverged, most likely because the learning rate${lr === undefined ? '' : ` (${lr} at that step)`} is too high for this model and batch size: ` +
    'lower train.optimizer.lr, warm up (train.schedule: { name: cosine, warmupEpochs: 1 }) or clip the gradients (train.clipNorm: 1)'
  );
}

export function divergenceMessage(d: DivergenceDetail): string {
  const where = `epoch ${d.epoch}, step ${d.step} (step ${d.runStep + 1} of the run)`;
  const what =
    d.weights !== undefined
      ? `weights became NaN or infinite by ${where}, though the losses read were finite (${d.weights.slice(0, 5).join(', ')}${d.weights.length > 5 ? `, ${d.weights.length - 5} more` : ''})`
      : `loss became ${d.loss} at ${where}${d.terms ? `; terms ${formatTerms(d.terms)}` : ''}`;
  const kept = d.kept ? `The last good checkpoint stays (${d.kept}); nothing of this epoch was saved.` : 'No checkpoint was written yet.';
  return `${what}: ${d.cause}. ${kept}`;
}

/**
 * Names of the variables holding a NaN or an infinity, in one read from the backend (x * 0 is 0
 * for a finite x and NaN otherwise, so one sum per variable tells).
 */
export function nonFiniteVariables(variables: tf.Variable[]): string[] {
  if (variables.length === 0) return [];
  const flags = tf.tidy(() => tf.stack(variables.map((v) => tf.sum(tf.mul(v, tf.scalar(0, v.dtype))))).dataSync());
  return variables.filter((_, i) => !Number.isFinite(flags[i])).map((v) => v.name);
}
