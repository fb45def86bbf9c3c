import { describe, expect, it } from 'vitest';
import {
  alignFace,
  alignmentTemplate,
  applyTransform,
  ARCFACE_TEMPLATE_112,
  invertTransform,
  similarityTransform,
  transformResidual,
  transformScaleRotation,
  warpSimilarity,
  type FivePoints,
  type Point2,
  type RgbImage,
  type SimilarityTransform,
} from '../src/align.js';

/** The transform with scale s, rotation θ (radians) and translation (tx, ty). */
function similarity(s: number, theta: number, tx: number, ty: number): SimilarityTransform {
  return { a: s * Math.cos(theta), b: s * Math.sin(theta), tx, ty };
}

/** A synthetic face: the 112 template moved into a bigger photo by a known transform. */
function syntheticFace(t: SimilarityTransform): FivePoints {
  return ARCFACE_TEMPLATE_112.map((p) => applyTransform(t, p)) as FivePoints;
}

const distance = (p: Point2, q: Point2) => Math.hypot(p.x - q.x, p.y - q.y);

/** A black image with one bright disc of radius r centred at `at` (anti-aliasing-free, symmetric). */
function imageWithDot(width: number, height: number, at: Point2, r: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = Math.floor(at.y - r - 1); y <= Math.ceil(at.y + r + 1); y++) {
    for (let x = Math.floor(at.x - r - 1); x <= Math.ceil(at.x + r + 1); x++) {
      if (x < 0 || y < 0 || x >= width || y >= height) continue;
      // Coverage of the pixel by the disc, sampled 4x4, so the dot's centroid is `at` to sub-pixel precision.
      let cover = 0;
      for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) if (Math.hypot(x - 0.375 + sx * 0.25 - at.x, y - 0.375 + sy * 0.25 - at.y) <= r) cover++;
      const v = Math.round((255 * cover) / 16);
      data.set([v, v, v], (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

/** Intensity-weighted centroid of channel 0 of a size x size RGB image. */
function centroid(rgb: Uint8Array, size: number): Point2 & { mass: number } {
  let mass = 0, x = 0, y = 0;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const w = rgb[(v * size + u) * 3];
      mass += w;
      x += w * u;
      y += w * v;
    }
  }
  return { x: x / mass, y: y / mass, mass };
}

describe('alignment template', () => {
  it('is the ArcFace template at 112 and its resize at 100', () => {
    expect(alignmentTemplate(112)).toEqual(ARCFACE_TEMPLATE_112.map((p) => ({ x: expect.closeTo(p.x, 10), y: expect.closeTo(p.y, 10) })));
    const t100 = alignmentTemplate(100);
    // Resizing 112 → 100 maps pixel-centre coordinate c to (c + 0.5) * 100/112 - 0.5.
    expect(t100[0].x).toBeCloseTo((38.2946 + 0.5) * (100 / 112) - 0.5, 10);
    expect(t100[4].y).toBeCloseTo((92.2041 + 0.5) * (100 / 112) - 0.5, 10);
    // Eyes above nose above mouth, left of right, all inside the image.
    for (const t of [alignmentTemplate(100), alignmentTemplate(112)]) {
      expect(t[0].x).toBeLessThan(t[1].x);
      expect(t[3].x).toBeLessThan(t[4].x);
      expect(Math.max(t[0].y, t[1].y)).toBeLessThan(t[2].y);
      expect(t[2].y).toBeLessThan(Math.min(t[3].y, t[4].y));
    }
  });
});

describe('similarityTransform (least squares, Umeyama)', () => {
  it('maps a rotated, scaled, translated synthetic face back onto the template', () => {
    for (const size of [100, 112]) {
      const template = alignmentTemplate(size);
      // The face in a photo: the template turned 23°, 2.7x bigger, moved to (180, 95).
      const face = template.map((p) => applyTransform(similarity(2.7, (23 * Math.PI) / 180, 180, 95), p)) as FivePoints;
      const t = similarityTransform(face, template);
      face.forEach((p, i) => expect(distance(applyTransform(t, p), template[i])).toBeLessThan(1e-6));
      const { scale, rotation } = transformScaleRotation(t);
      expect(scale).toBeCloseTo(1 / 2.7, 9);
      expect(rotation).toBeCloseTo((-23 * Math.PI) / 180, 9);
    }
  });

  it('is the least-squares fit with noisy landmarks: within a pixel of the template', () => {
    const template = alignmentTemplate(112);
    const noise = [
      [0.9, -0.4],
      [-0.7, 0.8],
      [0.3, 1.0],
      [-1.0, -0.6],
      [0.5, -0.9],
    ];
    const face = syntheticFace(similarity(1.9, -0.35, 40, 210)).map((p, i) => ({ x: p.x + noise[i][0], y: p.y + noise[i][1] }));
    const t = similarityTransform(face, template);
    face.forEach((p, i) => expect(distance(applyTransform(t, p), template[i])).toBeLessThan(1));
    // Least squares: nudging the solution in any parameter only increases the residual.
    const best = transformResidual(t, face, template);
    for (const key of ['a', 'b', 'tx', 'ty'] as const) {
      for (const d of [-1e-3, 1e-3]) expect(transformResidual({ ...t, [key]: t[key] + d }, face, template)).toBeGreaterThan(best);
    }
  });

  it('never reflects: a mirrored face is fitted by a rotation, with a large residual', () => {
    const template = alignmentTemplate(112);
    const mirrored = template.map((p) => ({ x: 200 - p.x, y: p.y }));
    const t = similarityTransform(mirrored, template);
    expect(transformResidual(t, mirrored, template)).toBeGreaterThan(5);
  });

  it('rejects coincident, non-finite or mismatched points', () => {
    const p = { x: 5, y: 5 };
    expect(() => similarityTransform([p, p, p, p, p], alignmentTemplate(112))).toThrow(/coincide/);
    expect(() => similarityTransform([{ x: NaN, y: 1 }, p], [p, { x: 1, y: 1 }])).toThrow(/source point 0 is not finite/);
    expect(() => similarityTransform([p, p], alignmentTemplate(112))).toThrow(/2 source points but 5 target points/);
  });

  it('inverts exactly', () => {
    const t = similarity(0.4, 1.1, -30, 12);
    const inv = invertTransform(t);
    const q = applyTransform(inv, applyTransform(t, { x: 17.5, y: -4.25 }));
    expect(q.x).toBeCloseTo(17.5, 10);
    expect(q.y).toBeCloseTo(-4.25, 10);
  });
});

describe('warpSimilarity / alignFace', () => {
  it('puts a dot painted at each source landmark onto its template position, within a pixel', () => {
    const width = 420;
    const height = 360;
    for (const size of [100, 112]) {
      const template = alignmentTemplate(size);
      const face = template.map((p) => applyTransform(similarity(2.4, (-17 * Math.PI) / 180, 95, 70), p)) as FivePoints;
      face.forEach((source, i) => {
        // One dot per image, so each landmark's centroid is measured on its own.
        const image = imageWithDot(width, height, source, 5);
        const aligned = alignFace(image, face, size);
        expect(aligned.data.length).toBe(size * size * 3);
        expect(aligned.residual).toBeLessThan(1e-6);
        const c = centroid(aligned.data, size);
        expect(c.mass).toBeGreaterThan(0);
        expect(distance(c, template[i])).toBeLessThan(1);
      });
    }
  });

  it('fills the outside black by default, or with the nearest edge pixel (clamp)', () => {
    const image: RgbImage = { width: 4, height: 4, data: new Uint8Array(4 * 4 * 3).fill(200) };
    // Shift the image 10 px right: output columns 0..8 have no source pixel.
    const shift: SimilarityTransform = { a: 1, b: 0, tx: 10, ty: 0 };
    const black = warpSimilarity(image, shift, 16);
    const clamp = warpSimilarity(image, shift, 16, { border: 'clamp' });
    const px = (rgb: Uint8Array, u: number, v: number) => rgb[(v * 16 + u) * 3];
    expect(px(black, 0, 0)).toBe(0);
    expect(px(black, 11, 1)).toBe(200);
    expect(px(black, 14, 1)).toBe(0);
    expect(px(clamp, 0, 0)).toBe(200);
    expect(px(clamp, 15, 15)).toBe(200);
  });

  it('interpolates bilinearly between pixel centres', () => {
    // Two pixels, 0 and 200; a half-pixel shift samples halfway between them.
    const image: RgbImage = { width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 200, 200, 200]) };
    const out = warpSimilarity(image, { a: 1, b: 0, tx: -0.5, ty: 0 }, 1, { border: 'clamp' });
    expect(out[0]).toBe(100);
  });
});
