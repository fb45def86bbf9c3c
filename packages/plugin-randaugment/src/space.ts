import type { OpName } from './ops.js';

/** The number of magnitude bins of torchvision's RandAugment and TrivialAugmentWide. */
export const NUM_BINS = 31;

export type Policy = 'randaugment' | 'trivialaugment';

/** Magnitudes of an op, one per bin (a single 0 for ops without a magnitude), and whether its sign is random. */
export type Space = Record<OpName, { magnitudes: number[]; signed: boolean }>;

/** torch.linspace(lo, hi, n) in float32, as torchvision computes its bins. */
function linspace(lo: number, hi: number, n: number): number[] {
  const step = Math.fround((hi - lo) / (n - 1));
  // torch fills the first half from the start and the second half from the end.
  return Array.from({ length: n }, (_, i) => Math.fround(i < n / 2 ? lo + step * i : hi - step * (n - 1 - i)));
}

/**
 * torchvision 0.14's `_augmentation_space`: RandAugment's (`num_bins`, image size) and
 * TrivialAugmentWide's "wide" one. Posterize's bits are 8 - round(i / ((bins - 1) / 4)) (RandAugment)
 * or / 6 (wide), rounded half to even as torch does.
 */
export function augmentationSpace(policy: Policy, h: number, w: number, bins = NUM_BINS): Space {
  const wide = policy === 'trivialaugment';
  const none = { magnitudes: [0], signed: false };
  const bits = Array.from({ length: bins }, (_, i) => {
    const v = i / ((bins - 1) / (wide ? 6 : 4));
    const r = Math.round(v);
    return 8 - (Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r);
  });
  const signed = (magnitudes: number[]) => ({ magnitudes, signed: true });
  return {
    Identity: none,
    ShearX: signed(linspace(0, wide ? 0.99 : 0.3, bins)),
    ShearY: signed(linspace(0, wide ? 0.99 : 0.3, bins)),
    TranslateX: signed(linspace(0, wide ? 32 : (150 / 331) * w, bins)),
    TranslateY: signed(linspace(0, wide ? 32 : (150 / 331) * h, bins)),
    Rotate: signed(linspace(0, wide ? 135 : 30, bins)),
    Brightness: signed(linspace(0, wide ? 0.99 : 0.9, bins)),
    Color: signed(linspace(0, wide ? 0.99 : 0.9, bins)),
    Contrast: signed(linspace(0, wide ? 0.99 : 0.9, bins)),
    Sharpness: signed(linspace(0, wide ? 0.99 : 0.9, bins)),
    Posterize: { magnitudes: bits, signed: false },
    Solarize: { magnitudes: linspace(255, 0, bins), signed: false },
    AutoContrast: none,
    Equalize: none,
  };
}
