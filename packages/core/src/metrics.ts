/**
 * Classification metrics as the paper reports them: accuracy, macro F1, average accuracy (mean of the
 * diagonal of the row-normalised confusion matrix, i.e. macro recall), per-class precision/recall/F1,
 * and the confidence (max softmax) of correct and of wrong predictions.
 */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ConfidenceStats {
  mean: number | null;
  median: number | null;
  count: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  macroF1: number;
  averageAccuracy: number;
  perClass: Record<string, ClassMetrics>;
  /** Rows are the true class, columns the predicted class, in `classes` order. */
  confusionMatrix: number[][];
  confidence: { correct: ConfidenceStats; wrong: ConfidenceStats };
  classes: string[];
  count: number;
  /** Mean categorical cross-entropy over the set, when computed from probabilities. */
  loss?: number;
}

/** The metrics a config may monitor for early stopping, and whether larger is better. */
export const MONITORABLE = {
  accuracy: 'max',
  macroF1: 'max',
  averageAccuracy: 'max',
  loss: 'min',
} as const;
export type MonitorName = keyof typeof MONITORABLE;

export function confusionMatrix(trueLabels: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number[][] {
  if (trueLabels.length !== predicted.length) {
    throw new RangeError(`confusionMatrix: ${trueLabels.length} labels but ${predicted.length} predictions`);
  }
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < trueLabels.length; i++) m[trueLabels[i]][predicted[i]]++;
  return m;
}

function median(sorted: number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function stats(values: number[]): ConfidenceStats {
  if (values.length === 0) return { mean: null, median: null, count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return { mean, median: median(sorted), count: values.length };
}

/**
 * Metrics from a confusion matrix alone. A class with no predictions has precision 0, a class with
 * no samples has recall 0 and is left out of the macro averages (it would count as a free 0).
 */
export function metricsFromConfusion(matrix: number[][], classes: string[]): Omit<ClassificationMetrics, 'confidence'> {
  const k = classes.length;
  if (matrix.length !== k || matrix.some((row) => row.length !== k)) {
    throw new RangeError(`metricsFromConfusion: expected a ${k}x${k} matrix`);
  }
  let total = 0;
  let correct = 0;
  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  let recallSum = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    const support = matrix[c].reduce((s, v) => s + v, 0);
    let predictedAsC = 0;
    for (let r = 0; r < k; r++) predictedAsC += matrix[r][c];
    const tp = matrix[c][c];
    total += support;
    correct += tp;
    const precision = predictedAsC > 0 ? tp / predictedAsC : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[classes[c]] = { precision, recall, f1, support };
    if (support > 0) {
      present++;
      f1Sum += f1;
      recallSum += recall;
    }
  }
  return {
    accuracy: total > 0 ? correct / total : 0,
    macroF1: present > 0 ? f1Sum / present : 0,
    averageAccuracy: present > 0 ? recallSum / present : 0,
    perClass,
    confusionMatrix: matrix.map((row) => [...row]),
    classes: [...classes],
    count: total,
  };
}

/**
 * All metrics from predicted class probabilities (`probs` is N*K row-major) and true labels.
 */
export function computeMetrics(probs: ArrayLike<number>, labels: ArrayLike<number>, classes: string[]): ClassificationMetrics {
  const k = classes.length;
  const n = labels.length;
  if (probs.length !== n * k) throw new RangeError(`computeMetrics: ${probs.length} probabilities for ${n} samples x ${k} classes`);
  const predicted = new Int32Array(n);
  const right: number[] = [];
  const wrong: number[] = [];
  let lossSum = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestP = -Infinity;
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c];
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    predicted[i] = best;
    (best === labels[i] ? right : wrong).push(bestP);
    lossSum -= Math.log(Math.min(1, Math.max(1e-7, probs[i * k + labels[i]])));
  }
  const base = metricsFromConfusion(confusionMatrix(labels, predicted, k), classes);
  return { ...base, confidence: { correct: stats(right), wrong: stats(wrong) }, loss: n > 0 ? lossSum / n : 0 };
}
