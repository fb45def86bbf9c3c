import { describe, expect, it } from 'vitest';
import { computeMetrics, confusionMatrix, metricsFromConfusion } from '../src/metrics.js';

describe('metrics', () => {
  // 3 classes, rows = true class. Hand computation:
  //   a: tp 5, support 5+2+1=8, predicted-as-a 5+1+0=6 -> P 5/6, R 5/8
  //   b: tp 6, support 1+6+1=8, predicted-as-b 2+6+2=10 -> P 6/10, R 6/8
  //   c: tp 2, support 0+2+2=4, predicted-as-c 1+1+2=4 -> P 2/4, R 2/4
  const m = [
    [5, 2, 1],
    [1, 6, 1],
    [0, 2, 2],
  ];
  const f1 = (p: number, r: number) => (2 * p * r) / (p + r);

  it('computes accuracy, macro F1, average accuracy and per-class values from a known confusion matrix', () => {
    const r = metricsFromConfusion(m, ['a', 'b', 'c']);
    expect(r.accuracy).toBeCloseTo(13 / 20, 12);
    expect(r.perClass.a).toEqual({ precision: 5 / 6, recall: 5 / 8, f1: f1(5 / 6, 5 / 8), support: 8 });
    expect(r.perClass.b.precision).toBeCloseTo(0.6, 12);
    expect(r.perClass.c.recall).toBeCloseTo(0.5, 12);
    expect(r.averageAccuracy).toBeCloseTo((5 / 8 + 6 / 8 + 2 / 4) / 3, 12);
    expect(r.macroF1).toBeCloseTo((f1(5 / 6, 5 / 8) + f1(0.6, 0.75) + f1(0.5, 0.5)) / 3, 12);
    expect(r.count).toBe(20);
  });

  it('leaves a class with no samples out of the macro averages and gives 0 precision to a class never predicted', () => {
    const r = metricsFromConfusion(
      [
        [3, 1, 0],
        [0, 0, 0],
        [2, 0, 0],
      ],
      ['a', 'b', 'c'],
    );
    expect(r.perClass.b.support).toBe(0);
    expect(r.perClass.c.precision).toBe(0);
    expect(r.averageAccuracy).toBeCloseTo((3 / 4 + 0) / 2, 12);
  });

  it('builds the confusion matrix with rows as the true class', () => {
    expect(confusionMatrix([0, 0, 1, 2], [0, 1, 1, 0], 3)).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 0],
    ]);
  });

  it('reports mean and median confidence of correct and of wrong predictions from probabilities', () => {
    const probs = [
      0.9, 0.1, // true 0, right, conf 0.9
      0.6, 0.4, // true 0, right, conf 0.6
      0.3, 0.7, // true 1, right, conf 0.7
      0.8, 0.2, // true 1, wrong, conf 0.8
      0.45, 0.55, // true 0, wrong, conf 0.55
    ];
    const r = computeMetrics(probs, [0, 0, 1, 1, 0], ['x', 'y']);
    expect(r.confidence.correct.mean).toBeCloseTo((0.9 + 0.6 + 0.7) / 3, 12);
    expect(r.confidence.correct.median).toBeCloseTo(0.7, 12);
    expect(r.confidence.wrong.mean).toBeCloseTo((0.8 + 0.55) / 2, 12);
    expect(r.confidence.wrong.median).toBeCloseTo((0.8 + 0.55) / 2, 12);
    expect(r.confusionMatrix).toEqual([
      [2, 1],
      [1, 1],
    ]);
    expect(r.loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.6) + Math.log(0.7) + Math.log(0.2) + Math.log(0.45)) / 5, 10);
  });
});
