/**
 * Face alignment maths: the five-point frontal template, the least-squares similarity transform that
 * maps five landmarks onto it, and the bilinear warp that produces the aligned face. Pure functions
 * on plain arrays; no tfjs, no I/O.
 *
 * Coordinates are pixels with integer values at pixel centres (pixel (0, 0) is centred on (0, 0)),
 * x to the right, y down: the convention of OpenCV's warpAffine and of the ArcFace template.
 * "Left" and "right" are as seen in the image: the left eye is the one with the smaller x.
 */

/** A point in pixel coordinates. */
export interface Point2 {
  x: number;
  y: number;
}

/** Five landmarks, in this order: left eye, right eye, nose tip, left mouth corner, right mouth corner. */
export type FivePoints = [Point2, Point2, Point2, Point2, Point2];

/** The aligned sizes `data.align.size` accepts. */
export const ALIGN_SIZES = [100, 112] as const;
export type AlignSize = (typeof ALIGN_SIZES)[number];

/**
 * A similarity transform (rotation, uniform scale, translation):
 * (x, y) → (a·x − b·y + tx, b·x + a·y + ty), where a = s·cos θ and b = s·sin θ.
 */
export interface SimilarityTransform {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/** An RGB image: `width` x `height` pixels, 3 interleaved uint8 samples each, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * How the warp fills output pixels whose source lies outside the image: `black` (constant 0, as
 * insightface's `cv2.warpAffine(..., borderValue=0)`; the default) or `clamp` (the nearest edge pixel).
 */
export type WarpBorder = 'black' | 'clamp';

/** An aligned face and how it was made. */
export interface AlignedFace {
  /** `size` x `size` x 3 RGB bytes. */
  data: Uint8Array;
  size: number;
  /** Source pixels → aligned pixels. */
  transform: SimilarityTransform;
  /** RMS distance, in aligned pixels, between the mapped landmarks and the template. */
  residual: number;
}

/**
 * The alignment maths as one self-contained factory: its body uses only its own locals and
 * JavaScript globals, so the decode workers run the very same code from `createAlignmentMaths.toString()`
 * (decode-pool.ts), as they do the image codec (see decode.ts for the rules that keep it so).
 */
export function createAlignmentMaths() {
  const FIVE_POINT_NAMES = ['left eye', 'right eye', 'nose tip', 'left mouth corner', 'right mouth corner'] as const;

  /** The ArcFace / insightface frontal template for 112 x 112 faces. */
  const ARCFACE_TEMPLATE_112: Readonly<FivePoints> = Object.freeze([
    { x: 38.2946, y: 51.6963 },
    { x: 73.5318, y: 51.5014 },
    { x: 56.0252, y: 71.7366 },
    { x: 41.5493, y: 92.3655 },
    { x: 70.7299, y: 92.2041 },
  ]) as Readonly<FivePoints>;

  /**
   * The frontal template for a `size` x `size` face: the 112 template scaled as a resize of the image
   * would move it (pixel centres: c' = (c + 0.5) * size / 112 - 0.5). For 112 it is the template itself.
   */
  function alignmentTemplate(size: number): FivePoints {
    if (!Number.isFinite(size) || size <= 0) throw new Error(`alignment size must be a positive number, got ${size}`);
    const s = size / 112;
    return ARCFACE_TEMPLATE_112.map((p) => ({ x: (p.x + 0.5) * s - 0.5, y: (p.y + 0.5) * s - 0.5 })) as FivePoints;
  }

  function applyTransform(t: SimilarityTransform, p: Point2): Point2 {
    return { x: t.a * p.x - t.b * p.y + t.tx, y: t.b * p.x + t.a * p.y + t.ty };
  }

  /** The transform's scale s and rotation θ in radians (positive θ turns x towards y: clockwise on screen). */
  function transformScaleRotation(t: SimilarityTransform): { scale: number; rotation: number } {
    return { scale: Math.hypot(t.a, t.b), rotation: Math.atan2(t.b, t.a) };
  }

  /** The inverse similarity transform. Throws for a degenerate (zero-scale) transform. */
  function invertTransform(t: SimilarityTransform): SimilarityTransform {
    const s2 = t.a * t.a + t.b * t.b;
    if (!(s2 > 0) || !Number.isFinite(s2)) throw new Error('cannot invert a similarity transform with zero or non-finite scale');
    const a = t.a / s2;
    const b = -t.b / s2;
    return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
  }

  /** The 2 x 3 matrix [[a, −b, tx], [b, a, ty]] (as OpenCV's warpAffine takes it). */
  function transformMatrix(t: SimilarityTransform): [[number, number, number], [number, number, number]] {
    return [
      [t.a, -t.b, t.tx],
      [t.b, t.a, t.ty],
    ];
  }

  /**
   * The least-squares similarity transform mapping `src[i]` onto `dst[i]` (Umeyama 1991, without
   * reflection). In 2-D the rotation-and-scale part [[a, −b], [b, a]] is linear in (a, b), so the
   * least-squares solution is closed-form on the centred points:
   * a = Σ(x·y) / Σ|x|², b = Σ(x × y) / Σ|x|², t = mean(dst) − R·mean(src),
   * which is what Umeyama's SVD gives for 2-D point sets (a proper rotation, never a reflection).
   * Needs at least two distinct source points.
   */
  function similarityTransform(src: readonly Point2[], dst: readonly Point2[]): SimilarityTransform {
    if (src.length !== dst.length) throw new Error(`similarityTransform: ${src.length} source points but ${dst.length} target points`);
    if (src.length < 2) throw new Error(`similarityTransform: needs at least 2 point pairs, got ${src.length}`);
    for (const [name, points] of [['source', src], ['target', dst]] as const) {
      points.forEach((p, i) => {
        if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) throw new Error(`similarityTransform: ${name} point ${i} is not finite (${p.x}, ${p.y})`);
      });
    }
    const n = src.length;
    let sx = 0, sy = 0, dx = 0, dy = 0;
    for (let i = 0; i < n; i++) {
      sx += src[i].x;
      sy += src[i].y;
      dx += dst[i].x;
      dy += dst[i].y;
    }
    sx /= n;
    sy /= n;
    dx /= n;
    dy /= n;
    let dot = 0, cross = 0, norm = 0;
    for (let i = 0; i < n; i++) {
      const px = src[i].x - sx;
      const py = src[i].y - sy;
      const qx = dst[i].x - dx;
      const qy = dst[i].y - dy;
      dot += px * qx + py * qy;
      cross += px * qy - py * qx;
      norm += px * px + py * py;
    }
    if (!(norm > 1e-12)) throw new Error('similarityTransform: the source points all coincide, so no transform is defined');
    const a = dot / norm;
    const b = cross / norm;
    return { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) };
  }

  /** Root-mean-square distance between `transform(src[i])` and `dst[i]`, in target pixels. */
  function transformResidual(t: SimilarityTransform, src: readonly Point2[], dst: readonly Point2[]): number {
    let sum = 0;
    src.forEach((p, i) => {
      const q = applyTransform(t, p);
      sum += (q.x - dst[i].x) ** 2 + (q.y - dst[i].y) ** 2;
    });
    return Math.sqrt(sum / src.length);
  }

  /**
   * Warps `image` by `transform` (source pixels → output pixels) into a `size` x `size` RGB image:
   * each output pixel (u, v) samples the source bilinearly at inverse(transform)(u, v). Returns a new
   * Uint8Array of size * size * 3.
   */
  function warpSimilarity(image: RgbImage, transform: SimilarityTransform, size: number, options: { border?: WarpBorder } = {}): Uint8Array {
    const { width, height, data } = image;
    if (!Number.isInteger(size) || size < 1) throw new Error(`warp size must be a positive integer, got ${size}`);
    if (!(width > 0 && height > 0) || data.length < width * height * 3) {
      throw new Error(`warpSimilarity: expected ${width}x${height}x3 RGB bytes, got ${data.length}`);
    }
    const clamp = options.border === 'clamp';
    const inv = invertTransform(transform);
    const out = new Uint8Array(size * size * 3);
    // One sample of channel c at integer (x, y), honouring the border mode.
    const at = (x: number, y: number, c: number): number => {
      if (x < 0 || y < 0 || x >= width || y >= height) {
        if (!clamp) return 0;
        x = x < 0 ? 0 : x >= width ? width - 1 : x;
        y = y < 0 ? 0 : y >= height ? height - 1 : y;
      }
      return data[(y * width + x) * 3 + c];
    };
    let o = 0;
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        const sx = inv.a * u - inv.b * v + inv.tx;
        const sy = inv.b * u + inv.a * v + inv.ty;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) {
          // Wholly outside: no neighbour is inside the image.
          if (!clamp) {
            o += 3;
            continue;
          }
        }
        const inside = x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height;
        for (let c = 0; c < 3; c++) {
          let p00, p10, p01, p11;
          if (inside) {
            const i = (y0 * width + x0) * 3 + c;
            p00 = data[i];
            p10 = data[i + 3];
            p01 = data[i + width * 3];
            p11 = data[i + width * 3 + 3];
          } else {
            p00 = at(x0, y0, c);
            p10 = at(x0 + 1, y0, c);
            p01 = at(x0, y0 + 1, c);
            p11 = at(x0 + 1, y0 + 1, c);
          }
          const top = p00 + (p10 - p00) * fx;
          const bottom = p01 + (p11 - p01) * fx;
          const value = top + (bottom - top) * fy;
          out[o++] = value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
        }
      }
    }
    return out;
  }

  /**
   * Aligns a face: the similarity transform from its five landmarks to the template for `size`, then
   * the warp. `border` defaults to black (see WarpBorder).
   */
  function alignFace(image: RgbImage, points: FivePoints, size: number, options: { border?: WarpBorder } = {}): AlignedFace {
    if (points.length !== 5) throw new Error(`alignFace: expected 5 landmarks (${FIVE_POINT_NAMES.join(', ')}), got ${points.length}`);
    const template = alignmentTemplate(size);
    const transform = similarityTransform(points, template);
    return { data: warpSimilarity(image, transform, size, options), size, transform, residual: transformResidual(transform, points, template) };
  }

  return { ARCFACE_TEMPLATE_112, FIVE_POINT_NAMES, alignmentTemplate, applyTransform, transformScaleRotation, invertTransform, transformMatrix, similarityTransform, transformResidual, warpSimilarity, alignFace };
}

export type AlignmentMaths = ReturnType<typeof createAlignmentMaths>;

const maths = createAlignmentMaths();

/** The names of the five points, in their order. */
export const FIVE_POINT_NAMES = maths.FIVE_POINT_NAMES;

/** The ArcFace / insightface frontal template for 112 x 112 faces. */
export const ARCFACE_TEMPLATE_112: Readonly<FivePoints> = maths.ARCFACE_TEMPLATE_112;
/** The frontal template for a `size` x `size` face (the 112 template scaled as a resize moves it). */
export const alignmentTemplate = maths.alignmentTemplate;
/** (x, y) → (a·x − b·y + tx, b·x + a·y + ty). */
export const applyTransform = maths.applyTransform;
/** The transform's scale s and rotation θ in radians. */
export const transformScaleRotation = maths.transformScaleRotation;
/** The inverse similarity transform. Throws for a degenerate (zero-scale) transform. */
export const invertTransform = maths.invertTransform;
/** The 2 x 3 matrix [[a, −b, tx], [b, a, ty]] (as OpenCV's warpAffine takes it). */
export const transformMatrix = maths.transformMatrix;
/** The least-squares similarity transform mapping `src[i]` onto `dst[i]` (Umeyama, without reflection). */
export const similarityTransform = maths.similarityTransform;
/** Root-mean-square distance between `transform(src[i])` and `dst[i]`, in target pixels. */
export const transformResidual = maths.transformResidual;
/** Warps `image` by `transform` into a `size` x `size` RGB image, sampling bilinearly. */
export const warpSimilarity = maths.warpSimilarity;
/** Aligns a face: the similarity transform from its five landmarks to the template for `size`, then the warp. */
export const alignFace = maths.alignFace;

/** A face found by a landmark detector: its five points, and the face box and score when known. */
export interface DetectedFace {
  points: FivePoints;
  box?: { x: number; y: number; width: number; height: number };
  score?: number;
}

/**
 * Finds the five landmarks of the most prominent face in an RGB image. @fermix/core defines only the
 * interface; @fermix/landmarks implements it with a face-landmark model.
 */
export interface LandmarkDetector {
  /** The face's landmarks, or null when no face is found. `rgb` is width * height * 3 bytes. */
  detect(rgb: Uint8Array, width: number, height: number): Promise<DetectedFace | null>;
  /** Frees the model's tensors. */
  dispose(): void;
}

/** iBUG 68-point indices: the image-left eye (the subject's right) is 36-41, the image-right eye 42-47. */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];
const NOSE_TIP = 30;
const LEFT_MOUTH_CORNER = 48;
const RIGHT_MOUTH_CORNER = 54;

function mean(points: readonly Point2[], indices: number[]): Point2 {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[i].x;
    y += points[i].y;
  }
  return { x: x / indices.length, y: y / indices.length };
}

/**
 * The five alignment points of a 68-point (iBUG 300-W) landmark set: eye centres (mean of points
 * 36-41 and 42-47), nose tip (30), mouth corners (48, 54).
 */
export function fivePointsFrom68(points: readonly Point2[]): FivePoints {
  if (points.length !== 68) throw new Error(`fivePointsFrom68: expected 68 landmarks, got ${points.length}`);
  const copy = (p: Point2): Point2 => ({ x: p.x, y: p.y });
  return [mean(points, LEFT_EYE), mean(points, RIGHT_EYE), copy(points[NOSE_TIP]), copy(points[LEFT_MOUTH_CORNER]), copy(points[RIGHT_MOUTH_CORNER])];
}
