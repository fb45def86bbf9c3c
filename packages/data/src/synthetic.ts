/**
 * The embedded default dataset: procedurally drawn faces for the 7 expression classes.
 *
 * Each image is rendered analytically, pixel by pixel, from signed distances to simple shapes
 * (ellipses, lens shapes, thick curves), so it needs no assets and no download. Edges are
 * anti-aliased by turning the signed distance into a coverage over one pixel's width.
 *
 * Two kinds of randomness go into a face:
 *  - the expression (brows, eyes, mouth, creases), drawn around a per-class prototype with a
 *    random intensity, so weak expressions drift toward neutral and the classes overlap a little;
 *  - nuisance variation that says nothing about the class (identity, pose, lighting, skin, hair,
 *    glasses, background clutter, occluders, blur, colour cast, noise), strong enough that raw
 *    pixels are a poor classifier and a model has to find the facial cues.
 */
import { Rng } from '@fermix/core';
import { streamable } from './open-split.js';
import { DataError, EXPRESSION_CLASSES, type DataSource, type ImageSet, type LoadOptions } from './source.js';

type Rgb = [number, number, number];

// ---------------------------------------------------------------------------------------------
// Small math helpers
// ---------------------------------------------------------------------------------------------

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
const mixRgb = (a: Rgb, b: Rgb, t: number): Rgb => [lerp(a[0], b[0], t), lerp(a[1], b[1], t), lerp(a[2], b[2], t)];
const scaleRgb = (a: Rgb, k: number): Rgb => [a[0] * k, a[1] * k, a[2] * k];

/**
 * Approximate signed distance to an axis-aligned ellipse (negative inside). The k0*(k0-1)/k1
 * form is exact on a circle and close enough elsewhere for one-pixel anti-aliasing.
 */
function ellipseSd(x: number, y: number, rx: number, ry: number): number {
  const ax = x / rx;
  const ay = y / ry;
  const k0 = Math.sqrt(ax * ax + ay * ay);
  const bx = x / (rx * rx);
  const by = y / (ry * ry);
  const k1 = Math.sqrt(bx * bx + by * by);
  return k1 === 0 ? -Math.min(rx, ry) : (k0 * (k0 - 1)) / k1;
}

/** Coverage of a pixel by the region sd < 0, with a linear ramp one pixel (`aa`) wide. */
function cover(sd: number, aa: number): number {
  const c = 0.5 - sd / aa;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/** Paints `color` over the accumulator `out` with opacity `alpha` (no-op when transparent). */
function paint(out: Float64Array, color: Rgb, alpha: number): void {
  if (alpha <= 0) return;
  out[0] += (color[0] - out[0]) * alpha;
  out[1] += (color[1] - out[1]) * alpha;
  out[2] += (color[2] - out[2]) * alpha;
}

/** Paints `color` times `k` (a shade of it) without allocating a colour per pixel. */
function paintScaled(out: Float64Array, color: Rgb, k: number, alpha: number): void {
  if (alpha <= 0) return;
  out[0] += (color[0] * k - out[0]) * alpha;
  out[1] += (color[1] * k - out[1]) * alpha;
  out[2] += (color[2] * k - out[2]) * alpha;
}

/** Multiplies the accumulator by `k` with opacity `alpha` (shadows and highlights keep the hue). */
function tint(out: Float64Array, k: number, alpha: number): void {
  if (alpha <= 0) return;
  const f = 1 + (k - 1) * alpha;
  out[0] *= f;
  out[1] *= f;
  out[2] *= f;
}

/**
 * Signed distance to a thick curve given as a graph y = f(x) over [x0, x1]: vertical distance
 * corrected by the slope, minus the half width, with flat ends. Good for brows and creases,
 * which never turn back on themselves.
 */
function graphStrokeSd(x: number, y: number, x0: number, x1: number, fy: number, slope: number, halfWidth: number): number {
  const across = Math.abs(y - fy) / Math.sqrt(1 + slope * slope) - halfWidth;
  return Math.max(across, x0 - x, x - x1);
}

/** A colour of any hue with saturation and value drawn from the given ranges (HSV to RGB). */
function randomHueColor(rng: Rng, satLo: number, satHi: number, valLo: number, valHi: number): Rgb {
  const h = rng.uniform() * 6;
  const s = lerp(satLo, satHi, rng.uniform());
  const v = lerp(valLo, valHi, rng.uniform());
  const i = Math.floor(h);
  const f = h - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  const table: Rgb[] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  return table[i % 6];
}

const between = (rng: Rng, lo: number, hi: number) => lerp(lo, hi, rng.uniform());

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/**
 * The facial parameters an expression moves, in face units (the face ellipse has half-axes of
 * about 0.7 and 0.95, centred at the origin; y grows toward the chin). Each class is a prototype
 * of these.
 */
interface Expression {
  /** Lifts both brows (positive = up). */
  browRaise: number;
  /** Positive pulls the inner brow ends down (anger), negative lifts them (sadness, fear). */
  browInner: number;
  /** Bulge of the middle of the brow (surprise arches them). */
  browArch: number;
  /** Upper-lid opening relative to relaxed: >1 wide-eyed, <1 narrowed. */
  eyeOpen: number;
  /** Half width of the mouth. */
  mouthWidth: number;
  /** Positive lifts the mouth corners (smile), negative drops them (frown). */
  mouthCurve: number;
  /** Full height of the mouth opening at its centre. */
  mouthOpen: number;
  /** Shape of the opening: 0 a lens (stretched lips), 1 an oval (an "O"). */
  mouthRound: number;
  /** Jaw drop: the mouth moves toward the chin. */
  mouthDrop: number;
  /** Fraction of the opening filled by upper teeth. */
  teeth: number;
  /** Fraction of the opening filled by lower teeth. */
  lowerTeeth: number;
  /** Upper lip lifted toward the nose (disgust). */
  upperLipRaise: number;
  /** One corner higher than the other (disgust is often one-sided). */
  mouthSkew: number;
  /** Lip thickness factor: <1 pressed thin (anger). */
  lipPress: number;
  /** Lower-lip thickness factor: >1 pushed out (sadness). */
  pout: number;
  /** Horizontal creases across the nose bridge (disgust). */
  noseWrinkle: number;
  /** Nasolabial folds from nose to mouth corners (smiling, disgust). */
  smileFolds: number;
  /** Raised cheeks: highlight, and the lower lid pushed up (genuine smile). */
  cheekRaise: number;
  /** Horizontal forehead creases (raised brows). */
  foreheadLines: number;
  /** Vertical creases between the brows (frowning). */
  browFurrow: number;
}

type ExpressionKey = keyof Expression;

const NEUTRAL: Expression = {
  browRaise: 0,
  browInner: 0,
  browArch: 0.025,
  eyeOpen: 1,
  mouthWidth: 0.26,
  mouthCurve: 0,
  mouthOpen: 0,
  mouthRound: 0,
  mouthDrop: 0,
  teeth: 0,
  lowerTeeth: 0,
  upperLipRaise: 0,
  mouthSkew: 0,
  lipPress: 1,
  pout: 1,
  noseWrinkle: 0,
  smileFolds: 0.1,
  cheekRaise: 0,
  foreheadLines: 0,
  browFurrow: 0,
};

/**
 * Per-parameter spread added to every face whatever its class: people's resting faces differ,
 * and this is what makes a weak expression ambiguous.
 */
const JITTER: Expression = {
  browRaise: 0.025,
  browInner: 0.022,
  browArch: 0.015,
  eyeOpen: 0.12,
  mouthWidth: 0.025,
  mouthCurve: 0.018,
  mouthOpen: 0.012,
  mouthRound: 0.1,
  mouthDrop: 0.012,
  teeth: 0.1,
  lowerTeeth: 0.05,
  upperLipRaise: 0.006,
  mouthSkew: 0.012,
  lipPress: 0.12,
  pout: 0.12,
  noseWrinkle: 0.08,
  smileFolds: 0.1,
  cheekRaise: 0.1,
  foreheadLines: 0.12,
  browFurrow: 0.1,
};

/**
 * The target an expression of class `label` moves toward. Some classes have variants (a closed
 * or open smile, pressed lips or a shout), as real expressions do.
 */
function classTarget(label: number, rng: Rng): Partial<Expression> {
  switch (EXPRESSION_CLASSES[label]) {
    case 'angry': {
      // Brows pulled down and together, eyes narrowed; lips pressed, or bared in a shout.
      const brows = { browRaise: -0.06, browInner: 0.12, browArch: -0.01, eyeOpen: 0.7, browFurrow: 1 };
      return rng.uniform() < 0.3
        ? { ...brows, mouthWidth: 0.27, mouthCurve: -0.04, mouthOpen: 0.11, teeth: 0.45, lowerTeeth: 0.35, mouthRound: 0.1 }
        : { ...brows, mouthWidth: 0.21, mouthCurve: -0.04, lipPress: 0.4 };
    }
    case 'disgust': {
      // Nose wrinkled, upper lip lifted (often on one side) baring the upper teeth, eyes squeezed.
      const side = rng.uniform() < 0.5 ? -1 : 1;
      return {
        browRaise: -0.05,
        browInner: 0.06,
        eyeOpen: 0.55,
        mouthWidth: 0.25,
        mouthCurve: -0.07,
        mouthOpen: 0.03,
        upperLipRaise: 0.05,
        teeth: 0.7,
        mouthSkew: 0.06 * side,
        noseWrinkle: 1,
        smileFolds: 1,
        cheekRaise: 0.4,
      };
    }
    case 'fear':
      // Brows raised and drawn together, eyes wide, mouth stretched sideways and open.
      return {
        browRaise: 0.09,
        browInner: -0.09,
        browArch: -0.01,
        eyeOpen: 1.65,
        mouthWidth: 0.33,
        mouthCurve: -0.05,
        mouthOpen: 0.1,
        mouthRound: 0,
        lowerTeeth: 0.45,
        teeth: 0.3,
        foreheadLines: 0.7,
      };
    case 'happy':
      // Corners up, cheeks raised (squeezing the eyes), usually showing the upper teeth.
      return rng.uniform() < 0.7
        ? {
            browRaise: 0.015,
            eyeOpen: 0.65,
            mouthWidth: 0.35,
            mouthCurve: 0.15,
            mouthOpen: 0.12,
            teeth: 0.8,
            smileFolds: 1,
            cheekRaise: 1,
          }
        : { browRaise: 0.01, eyeOpen: 0.72, mouthWidth: 0.34, mouthCurve: 0.14, smileFolds: 0.8, cheekRaise: 0.9 };
    case 'neutral':
      return {};
    case 'sad':
      // Inner brows up (the "grief" slant), lids drooping, corners down, lower lip pushed up.
      return {
        browRaise: -0.01,
        browInner: -0.11,
        browArch: 0,
        eyeOpen: 0.65,
        mouthWidth: 0.23,
        mouthCurve: -0.11,
        pout: 1.6,
        lipPress: 0.85,
      };
    case 'surprise':
      // Brows high and arched, eyes wide, jaw dropped into an "O".
      return {
        browRaise: 0.15,
        browInner: -0.015,
        browArch: 0.07,
        eyeOpen: 1.7,
        mouthWidth: 0.15,
        mouthOpen: 0.22,
        mouthRound: 1,
        mouthDrop: 0.05,
        lowerTeeth: 0.1,
        teeth: 0.15,
        foreheadLines: 1,
      };
    default:
      throw new RangeError(`renderSyntheticFace: label must be 0..${EXPRESSION_CLASSES.length - 1}, got ${label}`);
  }
}

/** Draws an expression: neutral moved toward the class target by a random intensity, plus jitter. */
function sampleExpression(label: number, rng: Rng): Expression {
  const target = classTarget(label, rng);
  // Expressions in the wild range from faint to full; faint ones are the hard examples.
  const intensity = 0.5 + 0.5 * Math.sqrt(rng.uniform());
  const e = { ...NEUTRAL };
  for (const key of Object.keys(NEUTRAL) as ExpressionKey[]) {
    const goal = target[key] ?? NEUTRAL[key];
    e[key] = NEUTRAL[key] + intensity * (goal - NEUTRAL[key]) + JITTER[key] * rng.normal();
  }
  // Keep the draws physically meaningful.
  e.eyeOpen = clamp(e.eyeOpen, 0.3, 1.9);
  e.mouthWidth = clamp(e.mouthWidth, 0.1, 0.42);
  e.mouthOpen = Math.max(0, e.mouthOpen);
  e.mouthRound = clamp(e.mouthRound, 0, 1);
  e.teeth = clamp(e.teeth, 0, 0.9);
  e.lowerTeeth = clamp(e.lowerTeeth, 0, 0.6);
  e.upperLipRaise = Math.max(0, e.upperLipRaise);
  e.lipPress = clamp(e.lipPress, 0.3, 1.4);
  e.pout = clamp(e.pout, 0.6, 1.9);
  for (const key of ['noseWrinkle', 'smileFolds', 'cheekRaise', 'foreheadLines', 'browFurrow'] as const) {
    e[key] = clamp(e[key], 0, 1);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Scene: identity, pose, lighting, background, accessories
// ---------------------------------------------------------------------------------------------

/** Skin tones from dark to light; a face picks a point between two neighbours. */
const SKIN_TONES: Rgb[] = [
  [0.3, 0.19, 0.13],
  [0.48, 0.31, 0.2],
  [0.66, 0.46, 0.33],
  [0.8, 0.6, 0.46],
  [0.9, 0.72, 0.6],
  [0.96, 0.82, 0.72],
];

const HAIR_COLORS: Rgb[] = [
  [0.05, 0.04, 0.035],
  [0.16, 0.1, 0.06],
  [0.32, 0.2, 0.1],
  [0.55, 0.4, 0.22],
  [0.78, 0.64, 0.4],
  [0.6, 0.58, 0.56],
  [0.45, 0.16, 0.08],
];

const IRIS_COLORS: Rgb[] = [
  [0.2, 0.12, 0.06],
  [0.3, 0.2, 0.1],
  [0.25, 0.35, 0.5],
  [0.3, 0.4, 0.25],
];

/** A shape in the background (furniture, windows, posters): a soft-edged box or disc. */
interface Clutter {
  kind: 'box' | 'disc';
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  /** Rotation, kept as cosine and sine so pixels need no trigonometry. */
  cos: number;
  sin: number;
  color: Rgb;
  alpha: number;
}

/** Something in front of the face: a hand, a cup, a microphone, another person's shoulder. */
interface Occluder {
  kind: 'hand' | 'box';
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  cos: number;
  sin: number;
  color: Rgb;
}

/** Everything about an image except the expression: drawn independently of the label. */
interface Scene {
  // Pose: image = offset + scale * rotate(face).
  angle: number;
  offsetX: number;
  offsetY: number;
  scale: number;
  /** Head turn: features slide sideways and compress (-1..1). */
  yaw: number;
  /** Head nod: features slide up or down. */
  pitch: number;

  // Identity.
  faceRx: number;
  faceRy: number;
  /** How much the face narrows toward the chin. */
  jaw: number;
  eyeSpacing: number;
  eyeY: number;
  eyeW: number;
  eyeH: number;
  browGap: number;
  browThick: number;
  noseY: number;
  noseW: number;
  mouthY: number;
  lipUpper: number;
  lipLower: number;
  gazeX: number;
  gazeY: number;
  skin: Rgb;
  lip: Rgb;
  iris: Rgb;
  brow: Rgb;
  blush: number;

  // Hair: a mass behind the head and a hairline across the forehead.
  hair: Rgb;
  hasHair: boolean;
  hairline: number;
  hairSide: number;
  hairLength: number;
  hairVolume: number;
  hairPhase: number;

  clothes: Rgb;

  glasses: 'none' | 'clear' | 'dark';
  glassesColor: Rgb;

  // Lighting.
  light: [number, number, number];
  ambient: number;

  // Background.
  bgA: Rgb;
  bgB: Rgb;
  /** Direction of the background gradient (unit vector). */
  bgDirX: number;
  bgDirY: number;
  clutter: Clutter[];
  occluder: Occluder | null;

  // Camera.
  /** Edge softness in pixels (1 = sharp); stands in for focus blur and low resolution. */
  blur: number;
  /** White balance: per-channel gains. */
  gains: Rgb;
  /** Overall gain, mostly the camera's auto-exposure reacting to the face. */
  exposure: number;
  brightness: number;
  contrast: number;
  gray: boolean;
  noise: number;
  noiseSeed: number;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

function sampleSkin(rng: Rng): Rgb {
  const t = rng.uniform() * (SKIN_TONES.length - 1);
  const i = Math.min(Math.floor(t), SKIN_TONES.length - 2);
  const base = mixRgb(SKIN_TONES[i], SKIN_TONES[i + 1], t - i);
  // A little hue variation: redder or more olive.
  const warm = 0.04 * rng.normal();
  return [clamp(base[0] + warm, 0, 1), base[1], clamp(base[2] - warm * 0.5, 0, 1)];
}

function sampleClutter(rng: Rng): Clutter[] {
  const count = rng.int(5);
  const items: Clutter[] = [];
  for (let i = 0; i < count; i++) {
    const angle = rng.uniform() < 0.6 ? 0 : between(rng, -0.6, 0.6);
    items.push({
      kind: rng.uniform() < 0.6 ? 'box' : 'disc',
      cx: between(rng, -1.1, 1.1),
      cy: between(rng, -1.1, 1.1),
      rx: between(rng, 0.08, 0.6),
      ry: between(rng, 0.08, 0.9),
      cos: Math.cos(angle),
      sin: Math.sin(angle),
      color: randomHueColor(rng, 0, 0.6, 0.1, 0.95),
      alpha: between(rng, 0.3, 1),
    });
  }
  return items;
}

function sampleOccluder(rng: Rng, skin: Rgb): Occluder | null {
  if (rng.uniform() >= 0.08) return null;
  const hand = rng.uniform() < 0.5;
  // Occluders come in from an edge and cover a cheek, the chin, a corner of the mouth or an eye.
  const side = rng.uniform() < 0.5 ? -1 : 1;
  const angle = between(rng, -0.8, 0.8);
  return {
    kind: hand ? 'hand' : 'box',
    cx: side * between(rng, 0.45, 0.9),
    cy: between(rng, -0.2, 0.9),
    rx: between(rng, 0.18, 0.35),
    ry: between(rng, 0.25, 0.5),
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    color: hand ? scaleRgb(skin, between(rng, 0.85, 1.1)) : randomHueColor(rng, 0.1, 0.8, 0.1, 0.9),
  };
}

/**
 * A camera meters for the face: a dark face or a dim light gets more gain (partly, as real
 * auto-exposure does), so expressions stay visible without every image being equally bright.
 */
function autoExposure(skin: Rgb, lightElevation: number, ambient: number): number {
  const faceLuma = (0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]) * (ambient + (1 - ambient) * 0.7 * lightElevation);
  return clamp(Math.pow(0.45 / faceLuma, 0.6), 0.8, 2.2);
}

function sampleScene(rng: Rng): Scene {
  const skin = sampleSkin(rng);
  const hair = pick(rng, HAIR_COLORS);
  const lightAzimuth = rng.uniform() * 2 * Math.PI;
  const lightElevation = between(rng, 0.15, 0.95); // z component: from grazing to frontal
  const planar = Math.sqrt(1 - lightElevation * lightElevation);
  const glassesRoll = rng.uniform();
  const ambient = between(rng, 0.3, 0.65);
  const bgAngle = rng.uniform() * 2 * Math.PI;
  const lipTint: Rgb = [0.62, 0.26, 0.27];
  return {
    angle: 0.15 * rng.normal(),
    offsetX: between(rng, -0.08, 0.08),
    offsetY: between(rng, -0.06, 0.1),
    // A tight crop like a face detector's: forehead and chin may touch the border.
    scale: 0.95 * between(rng, 0.88, 1.1),
    yaw: clamp(0.25 * rng.normal(), -0.7, 0.7),
    pitch: clamp(0.25 * rng.normal(), -0.6, 0.6),

    faceRx: between(rng, 0.64, 0.76),
    faceRy: between(rng, 0.9, 1.0),
    jaw: between(rng, 0.1, 0.3),
    eyeSpacing: between(rng, 0.27, 0.32),
    eyeY: between(rng, -0.16, -0.08),
    eyeW: between(rng, 0.13, 0.155),
    eyeH: between(rng, 0.05, 0.062),
    browGap: between(rng, 0.13, 0.17),
    browThick: between(rng, 0.03, 0.046),
    noseY: between(rng, 0.2, 0.27),
    noseW: between(rng, 0.055, 0.075),
    mouthY: between(rng, 0.47, 0.54),
    lipUpper: between(rng, 0.033, 0.05),
    lipLower: between(rng, 0.042, 0.065),
    gazeX: 0.03 * rng.normal(),
    gazeY: 0.008 * rng.normal(),
    skin,
    lip: scaleRgb(mixRgb(skin, lipTint, between(rng, 0.45, 0.7)), 0.85),
    iris: pick(rng, IRIS_COLORS),
    brow: scaleRgb(hair, between(rng, 0.45, 0.8)),
    blush: between(rng, 0, 0.15),

    hair,
    hasHair: rng.uniform() < 0.92,
    hairline: between(rng, -0.82, -0.55),
    hairSide: between(rng, 0.05, 0.45),
    hairLength: rng.uniform() < 0.35 ? between(rng, 0.5, 1.6) : between(rng, -0.3, 0.2),
    hairVolume: between(rng, 0.04, 0.2),
    hairPhase: rng.uniform() * 2 * Math.PI,

    clothes: randomHueColor(rng, 0, 0.8, 0.08, 0.9),

    glasses: glassesRoll < 0.03 ? 'dark' : glassesRoll < 0.13 ? 'clear' : 'none',
    glassesColor: randomHueColor(rng, 0, 0.5, 0.02, 0.35),

    light: [planar * Math.cos(lightAzimuth), planar * Math.sin(lightAzimuth), lightElevation],
    ambient,

    bgA: randomHueColor(rng, 0, 0.55, 0.1, 0.95),
    bgB: randomHueColor(rng, 0, 0.55, 0.1, 0.95),
    bgDirX: Math.cos(bgAngle),
    bgDirY: Math.sin(bgAngle),
    clutter: sampleClutter(rng),
    occluder: sampleOccluder(rng, skin),

    blur: 1 + 1.3 * rng.uniform() * rng.uniform(),
    gains: [between(rng, 0.85, 1.15), between(rng, 0.9, 1.1), between(rng, 0.85, 1.15)],
    exposure: autoExposure(skin, lightElevation, ambient) * between(rng, 0.8, 1.2),
    brightness: 0.08 * rng.normal(),
    contrast: between(rng, 0.6, 1.3),
    gray: rng.uniform() < 0.3,
    noise: between(rng, 0.003, 0.035),
    noiseSeed: rng.nextUint32(),
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const SCLERA: Rgb = [0.93, 0.91, 0.88];
const PUPIL: Rgb = [0.03, 0.02, 0.02];
const LASH: Rgb = [0.06, 0.04, 0.04];
const MOUTH_INSIDE: Rgb = [0.22, 0.05, 0.06];
const TEETH: Rgb = [0.93, 0.91, 0.85];
const BLUSH: Rgb = [0.85, 0.4, 0.4];
/** Left and right (image left is -1), for features that come in mirrored pairs. */
const SIDES = [-1, 1] as const;

/**
 * Renders one face. Holds the sampled expression and scene plus values derived once per image,
 * and evaluates a pixel from its coordinates; no allocation per pixel.
 */
class FaceRenderer {
  private readonly cos: number;
  private readonly sin: number;
  /** One pixel's width in face units, times the blur. */
  private readonly aa: number;
  private readonly crease: Rgb;
  private readonly hairShade: Rgb;
  private readonly mouthCy: number;
  private readonly scratch = new Float64Array(3);

  constructor(
    private readonly e: Expression,
    private readonly s: Scene,
    size: number,
  ) {
    this.cos = Math.cos(s.angle);
    this.sin = Math.sin(s.angle);
    this.aa = (2 / size / s.scale) * s.blur;
    this.crease = scaleRgb(s.skin, 0.55);
    this.hairShade = scaleRgb(s.hair, 0.8);
    this.mouthCy = s.mouthY + e.mouthDrop;
  }

  /** Colour of the pixel at image coordinates (x, y) in [-1, 1], written to `out`. */
  pixel(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    // Into face coordinates: undo offset, rotation and scale.
    const dx = x - s.offsetX;
    const dy = y - s.offsetY;
    const fx = (this.cos * dx + this.sin * dy) / s.scale;
    const fy = (-this.sin * dx + this.cos * dy) / s.scale;
    const faceCoverage = cover(this.faceSd(fx, fy), this.aa);
    // Whatever lies behind a fully covered face pixel cannot show: skip drawing it.
    if (faceCoverage < 1) {
      this.background(x, y, out);
      this.body(fx, fy, out);
    }
    if (faceCoverage > 0) this.face(fx, fy, faceCoverage, out);
    if (s.glasses !== 'none') this.glasses(this.featureX(fx, fy, 0.12), this.featureY(fy), out);
    if (s.occluder) this.occluder(fx, fy, s.occluder, out);
  }

  /** Gradient wall plus clutter; drawn with softer edges, as if out of focus. */
  private background(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const t = clamp(0.5 + 0.5 * (x * s.bgDirX + y * s.bgDirY), 0, 1);
    out[0] = lerp(s.bgA[0], s.bgB[0], t);
    out[1] = lerp(s.bgA[1], s.bgB[1], t);
    out[2] = lerp(s.bgA[2], s.bgB[2], t);
    const aa = this.aa * s.scale * 2.5;
    for (const c of s.clutter) {
      const lx = c.cos * (x - c.cx) + c.sin * (y - c.cy);
      const ly = -c.sin * (x - c.cx) + c.cos * (y - c.cy);
      const sd = c.kind === 'box' ? Math.max(Math.abs(lx) - c.rx, Math.abs(ly) - c.ry) : ellipseSd(lx, ly, c.rx, c.ry);
      paint(out, c.color, cover(sd, aa) * c.alpha);
    }
  }

  /** Hair mass behind the head, clothes, neck and ears. */
  private body(fx: number, fy: number, out: Float64Array): void {
    const s = this.s;
    const aa = this.aa;
    if (s.hasHair) {
      const rx = s.faceRx + s.hairVolume;
      const ry = s.faceRy * 0.85 + s.hairVolume;
      const top = ellipseSd(fx, fy + 0.12, rx, ry);
      // Long hair falls as a slab down to the shoulders.
      const slab = Math.max(Math.abs(fx) - rx * 0.97, -0.1 - fy, fy - s.hairLength);
      paint(out, this.hairShade, cover(Math.min(top, slab), aa));
    }
    if (fy < -0.2) return; // neck, shoulders and ears all lie below the brows
    const neckHalf = s.faceRx * 0.48;
    if (Math.abs(fx) < neckHalf + aa) {
      // The neck is a cylinder in the shadow of the jaw.
      const neck = Math.max(Math.abs(fx) - neckHalf, -fy);
      paintScaled(out, s.skin, 0.62 * this.lightAt(fx / (s.faceRx * 0.5), 0), cover(neck, aa));
    }
    const shouldersY = s.faceRy + 0.95;
    if (fy > shouldersY - 0.65) paint(out, s.clothes, cover(ellipseSd(fx, fy - shouldersY, 1.35, 0.6), aa));
    // Long hair in front of the shoulders.
    if (s.hasHair && s.hairLength > 0.9) {
      const strand = Math.max(Math.abs(Math.abs(fx) - s.faceRx * 0.95) - 0.12, 0.4 - fy, fy - s.hairLength);
      paint(out, this.hairShade, cover(strand, aa));
    }
    if (fy < 0.25) {
      for (const side of SIDES) {
        const ear = ellipseSd(fx - side * s.faceRx * 0.97, fy - 0.02, 0.08, 0.16);
        paintScaled(out, s.skin, 0.85 * this.lightAt(side * 0.8, 0), cover(ear, aa));
      }
    }
  }

  /** Lambert shading of a unit-ish normal (nx, ny) on the front of a dome, ambient included. */
  private lightAt(nx: number, ny: number): number {
    const r2 = nx * nx + ny * ny;
    const nz = Math.sqrt(Math.max(0, 1 - Math.min(r2, 1)));
    const len = Math.sqrt(nx * nx + ny * ny + nz * nz) || 1;
    const L = this.s.light;
    const d = Math.max(0, (nx * L[0] + ny * L[1] + nz * L[2]) / len);
    return this.s.ambient + (1 - this.s.ambient) * d;
  }

  /** Feature x after a head turn: features slide toward the turn and the far side compresses. */
  private featureX(fx: number, fy: number, depth: number): number {
    const s = this.s;
    const curve = 1 - 0.3 * fy * fy; // the chin and forehead move less than the cheeks
    return (fx - s.yaw * depth * curve) / (1 - 0.18 * Math.abs(s.yaw));
  }

  /** Feature y after a nod: features slide up or down within the outline. */
  private featureY(fy: number): number {
    return fy - this.s.pitch * 0.07;
  }

  /** Signed distance to the face outline: an ellipse that narrows toward the chin. */
  private faceSd(fx: number, fy: number): number {
    const s = this.s;
    return ellipseSd(fx, fy, this.faceRxAt(fy), s.faceRy);
  }

  private faceRxAt(fy: number): number {
    const s = this.s;
    return fy > 0 ? s.faceRx * (1 - s.jaw * (fy / s.faceRy) * (fy / s.faceRy)) : s.faceRx;
  }

  /** The face with its features, shaded, composited over what is behind it by `coverage`. */
  private face(fx: number, fy: number, coverage: number, out: Float64Array): void {
    const s = this.s;
    const rx = this.faceRxAt(fy);

    const under0 = out[0];
    const under1 = out[1];
    const under2 = out[2];
    out[0] = s.skin[0];
    out[1] = s.skin[1];
    out[2] = s.skin[2];

    // Features sit at different depths, so a head turn moves the nose most and the eyes least.
    const x = this.featureX(fx, fy, 0.1);
    const y = this.featureY(fy);
    // The surface normal of an ellipsoid, bent by the nose so its sides catch or lose the light.
    let nx = fx / (rx + 0.15);
    let ny = fy / (s.faceRy + 0.15);
    const nose = this.noseBump(this.featureX(fx, fy, 0.16), y);
    nx += nose[0];
    ny += nose[1];

    this.cheeks(x, y, out);
    this.forehead(x, y, out);
    this.noseMarks(this.featureX(fx, fy, 0.16), y, out);
    this.folds(x, y, out);
    for (const side of SIDES) {
      this.eye(x - side * s.eyeSpacing, y - s.eyeY, out);
      this.brow(x, y, side, out);
    }
    this.mouth(this.featureX(fx, fy, 0.12), y, out);
    if (s.hasHair) this.fringe(fx, fy, out);

    const shade = this.lightAt(nx, ny);
    out[0] = lerp(under0, out[0] * shade, coverage);
    out[1] = lerp(under1, out[1] * shade, coverage);
    out[2] = lerp(under2, out[2] * shade, coverage);
  }

  /** Surface-normal offset from the nose ridge and tip (a gaussian bump); returned by reference. */
  private readonly bump = [0, 0];
  private noseBump(x: number, y: number): number[] {
    const s = this.s;
    const b = this.bump;
    b[0] = 0;
    b[1] = 0;
    const top = s.eyeY - 0.02;
    if (y < top || y > s.noseY + 0.12 || Math.abs(x) > 0.2) return b;
    // Ridge: a narrow bump along x; tip: a rounder bump at the bottom.
    const ridge = Math.exp(-(x * x) / (2 * 0.045 * 0.045)) * clamp((y - top) / 0.1, 0, 1);
    const ty = y - (s.noseY - 0.03);
    const tip = Math.exp(-(x * x) / (2 * 0.06 * 0.06) - (ty * ty) / (2 * 0.05 * 0.05));
    b[0] = (x / 0.045) * ridge * 0.35 + (x / 0.06) * tip * 0.5;
    b[1] = (ty / 0.05) * tip * 0.4;
    return b;
  }

  /** Cheek highlight when raised (smiling, disgust), and personal blush. */
  private cheeks(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    if (Math.abs(y - 0.14) > 0.25 || Math.abs(x) < 0.1 || (e.cheekRaise < 0.01 && s.blush < 0.01)) return;
    for (const side of SIDES) {
      const d = ellipseSd(x - side * 0.33, y - (0.16 - 0.04 * e.cheekRaise), 0.16, 0.12);
      if (d > 0.1) continue;
      const soft = clamp(1 - (d + 0.1) / 0.2, 0, 1);
      // Raised cheeks catch light (the apples of the cheeks in a smile); blush is personal.
      tint(out, 1.18, soft * 0.6 * e.cheekRaise);
      paint(out, BLUSH, soft * s.blush);
    }
  }

  /** Forehead creases (raised brows) and the vertical furrow between the brows (frown). */
  private forehead(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    const aa = this.aa;
    const browY = s.eyeY - s.browGap - e.browRaise;
    if (y < browY - 0.3 || y > browY + 0.15) return;
    if (e.foreheadLines > 0.05) {
      for (let i = 0; i < 3; i++) {
        const cy = browY - 0.1 - 0.065 * i + 0.05 * (x / 0.3) * (x / 0.3);
        const sd = graphStrokeSd(x, y, -0.3 + 0.05 * i, 0.3 - 0.05 * i, cy, (0.1 * x) / 0.09, 0.01);
        tint(out, 0.72, cover(sd, aa) * e.foreheadLines * 0.8);
      }
    }
    if (e.browFurrow > 0.05 && Math.abs(x) < 0.1) {
      for (const side of SIDES) {
        const cx = side * (0.035 + 0.02 * (y - browY));
        const sd = Math.max(Math.abs(x - cx) - 0.011, browY - 0.02 - y, y - (browY + 0.12));
        tint(out, 0.68, cover(sd, aa) * e.browFurrow * 0.8);
      }
    }
  }

  /** Nostrils, and the crinkles across the nose bridge that mark disgust. */
  private noseMarks(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    const aa = this.aa;
    if (Math.abs(x) > 0.2 || y < s.eyeY || y > s.noseY + 0.1) return;
    // Nostrils flare and lift with the upper lip in disgust.
    const flare = 1 + 0.35 * e.noseWrinkle;
    const ny = s.noseY + 0.03 - e.upperLipRaise * 0.6;
    for (const side of SIDES) {
      const sd = ellipseSd(x - side * s.noseW * flare * 0.75, y - ny, 0.032 * flare, 0.017);
      paint(out, this.crease, cover(sd, aa) * 0.85);
      // Nose wing: a soft crease around each nostril.
      const wing = Math.abs(ellipseSd(x - side * s.noseW * flare, y - ny + 0.01, 0.035 * flare, 0.04)) - 0.006;
      tint(out, 0.8, cover(wing, aa) * 0.6 * clamp((y - ny + 0.04) / 0.03, 0, 1));
    }
    if (e.noseWrinkle > 0.05) {
      for (let i = 0; i < 3; i++) {
        const cy = s.eyeY + 0.06 + 0.04 * i;
        const sd = graphStrokeSd(x, y, -0.08, 0.08, cy + 0.8 * x * x, 1.6 * x, 0.011);
        tint(out, 0.66, cover(sd, aa) * e.noseWrinkle * 0.9);
      }
    }
  }

  /** Nasolabial folds: from beside the nose to beyond the mouth corners. */
  private folds(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    if (e.smileFolds < 0.05) return;
    const y0 = s.noseY;
    const y1 = this.mouthCy + 0.08;
    if (y < y0 || y > y1) return;
    const t = (y - y0) / (y1 - y0);
    const x0 = s.noseW + 0.07;
    const x1 = e.mouthWidth + 0.07;
    // Bowed outward, as the cheek pushes against the fold.
    const cx = lerp(x0, x1, t) + 0.05 * Math.sin(Math.PI * t);
    const slope = (x1 - x0 + 0.05 * Math.PI * Math.cos(Math.PI * t)) / (y1 - y0);
    const sd = Math.abs(Math.abs(x) - cx) / Math.sqrt(1 + slope * slope) - 0.009 * (1 - 0.5 * t);
    tint(out, 0.7, cover(sd, this.aa) * e.smileFolds * 0.8);
  }

  /** One eye, in coordinates centred on it: socket shadow, lids, sclera, iris, lashes. */
  private eye(ex: number, ey: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    const aa = this.aa;
    if (Math.abs(ex) > 0.25 || Math.abs(ey) > 0.2) return;

    // Socket shadow, so a narrowed eye still reads as a dark band.
    const socket = ellipseSd(ex, ey + 0.015, s.eyeW * 1.45, 0.1);
    tint(out, 0.8, clamp(-socket / 0.06, 0, 1) * 0.6);

    const w = s.eyeW;
    const q = (ex / w) * (ex / w);
    const p = q < 1 ? Math.pow(1 - q, 0.8) : 0;
    const hu = s.eyeH * e.eyeOpen;
    // The lower lid drops a little in a wide eye and is pushed up by raised cheeks.
    const hl = s.eyeH * 0.7 * (0.65 + 0.35 * e.eyeOpen) * (1 - 0.45 * e.cheekRaise);
    const yUp = -hu * p;
    const yLo = hl * p;

    // Lid crease above the opening.
    const creaseSd = Math.max(Math.abs(ey - (yUp - 0.035 * (0.5 + 0.5 * p))) - 0.006, Math.abs(ex) - w * 0.95);
    tint(out, 0.75, cover(creaseSd, aa) * 0.6);

    const openingSd = Math.max(yUp - ey, ey - yLo, Math.abs(ex) - w);
    const inside = cover(openingSd, aa);
    if (inside > 0) {
      // Keep the skin colour to blend the eye into at its anti-aliased edge.
      const eyeColor = this.scratch;
      eyeColor[0] = out[0];
      eyeColor[1] = out[1];
      eyeColor[2] = out[2];
      out[0] = SCLERA[0] * s.skin[0] * 0.15 + SCLERA[0] * 0.85;
      out[1] = SCLERA[1] * s.skin[1] * 0.15 + SCLERA[1] * 0.85;
      out[2] = SCLERA[2] * s.skin[2] * 0.15 + SCLERA[2] * 0.85;
      const ir = s.eyeH * 0.95;
      const irisSd = ellipseSd(ex - s.gazeX, ey - s.gazeY, ir, ir);
      paint(out, s.iris, cover(irisSd, aa));
      paint(out, PUPIL, cover(irisSd + ir * 0.55, aa));
      // Shadow of the upper lid on the eyeball.
      tint(out, 0.75, clamp(1 - (ey - yUp) / (0.4 * s.eyeH + 1e-6), 0, 1) * 0.7);
      out[0] = lerp(eyeColor[0], out[0], inside);
      out[1] = lerp(eyeColor[1], out[1], inside);
      out[2] = lerp(eyeColor[2], out[2], inside);
    }
    // Lashes: a thick line on the upper lid, a thin one on the lower.
    const lashSd = Math.max(Math.abs(ey - yUp + 0.006) - 0.011 * (0.4 + 0.6 * p), Math.abs(ex) - w * 1.05);
    paint(out, LASH, cover(lashSd, aa) * 0.9);
    const lowerSd = Math.max(Math.abs(ey - yLo) - 0.005, Math.abs(ex) - w);
    tint(out, 0.7, cover(lowerSd, aa) * 0.6);
  }

  /** One brow (side -1 is image left) as a tapered thick curve from its inner to its outer end. */
  private brow(x: number, y: number, side: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    const ax = x * side; // mirror so both brows run inner -> outer with growing ax
    const inner = s.eyeSpacing - s.eyeW * 0.95;
    const outer = s.eyeSpacing + s.eyeW * 1.35;
    if (ax < inner - 0.05 || ax > outer + 0.05) return;
    const baseY = s.eyeY - s.browGap - e.browRaise;
    if (Math.abs(y - baseY) > 0.2) return;
    const span = outer - inner;
    const t = clamp((ax - inner) / span, 0, 1);
    // Inner end moves with browInner; the arch lifts the middle; the outer end droops slightly.
    const cy = baseY + e.browInner * (1 - t) - e.browArch * 4 * t * (1 - t) + 0.02 * t * t;
    const slope = (-e.browInner - e.browArch * 4 * (1 - 2 * t) + 0.04 * t) / span;
    const half = s.browThick * (1 - 0.45 * t);
    const sd = graphStrokeSd(ax, y, inner, outer, cy, slope, half);
    paint(out, s.brow, cover(sd, this.aa) * 0.92);
  }

  /**
   * The mouth, in a frame centred on it. The opening lies between an upper and a lower curve
   * that meet at the corners; the lips are bands outside those curves; teeth fill part of the
   * opening from the top and bottom. A closed mouth is an opening of zero height, drawn as the
   * dark line where the lips meet.
   */
  private mouth(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const e = this.e;
    const aa = this.aa;
    const w = e.mouthWidth;
    const my = y - this.mouthCy;
    if (Math.abs(x) > w + 0.08 || my < -0.25 || my > 0.25) return;
    const t = x / w;
    const q = Math.min(1, t * t);
    // Centre line: corners up for a smile, down for a frown, one side higher for a sneer.
    const yc = -e.mouthCurve * q + e.mouthSkew * t;
    const lens = 1 - q;
    const profile = Math.pow(lens, 1 - 0.5 * e.mouthRound); // oval when round, lens when not
    const yu = yc - (e.mouthOpen * 0.4 + e.upperLipRaise) * profile;
    const yl = yc + e.mouthOpen * 0.6 * profile;
    const taper = 0.35 + 0.65 * Math.sqrt(lens);
    const tu = s.lipUpper * e.lipPress * taper;
    const tl = s.lipLower * e.lipPress * e.pout * taper;
    const ends = Math.abs(x) - w;

    // Lips, with a slightly lighter lower lip (it faces up, toward most light).
    const lipsSd = Math.max(yu - tu - my, my - (yl + tl), ends);
    paint(out, s.lip, cover(lipsSd, aa) * 0.85);
    const lowerLipSd = Math.max(yc - my, my - (yl + tl), ends);
    tint(out, 1.08, cover(lowerLipSd, aa) * 0.8);
    // Shadow under the lower lip.
    const chinShadow = Math.max(Math.abs(my - (yl + tl + 0.015)) - 0.01, Math.abs(x) - w * 0.7);
    tint(out, 0.85, cover(chinShadow, aa * 2) * 0.7);

    const inside = Math.max(yu - my, my - yl, ends + 0.005);
    const seam = Math.max(Math.abs(my - yc) - 0.011, ends);
    paint(out, MOUTH_INSIDE, cover(Math.min(inside, seam), aa));
    if (e.mouthOpen + e.upperLipRaise > 0.01) {
      const upperTeeth = Math.max(inside, my - (yu + e.teeth * (yl - yu)));
      paint(out, TEETH, cover(upperTeeth, aa) * 0.95);
      const lowerTeeth = Math.max(inside, yl - e.lowerTeeth * (yl - yu) - my);
      paint(out, TEETH, cover(lowerTeeth, aa) * 0.9);
    }
    // Dimples at the corners deepen in a smile or a frown.
    const corner = ellipseSd(Math.abs(x) - w - 0.01, my - yc, 0.015, 0.02);
    tint(out, 0.75, cover(corner, aa) * clamp(Math.abs(e.mouthCurve) * 8, 0.2, 1));
  }

  /** Hair over the forehead and temples, down to a hairline that drops at the sides. */
  private fringe(fx: number, fy: number, out: Float64Array): void {
    const s = this.s;
    const u = fx / s.faceRx;
    // Below the lowest the hairline can reach (at the temples) there is no hair on the face.
    if (fy > s.hairline + s.hairSide * 2 * u * u * u * u + 0.03 + this.aa) return;
    // A gentle wave so the hairline is not a ruled curve.
    const line = s.hairline + s.hairSide * u * u * u * u * 2 + 0.025 * Math.sin(fx * 11 + s.hairPhase);
    paint(out, s.hair, cover(fy - line, this.aa * 1.5));
  }

  /** Round frames (clear lenses slightly brighten; dark ones hide the eyes and brows' lower edge). */
  private glasses(x: number, y: number, out: Float64Array): void {
    const s = this.s;
    const aa = this.aa;
    const r = s.eyeW * 1.5;
    for (const side of SIDES) {
      const lens = ellipseSd(x - side * s.eyeSpacing, y - s.eyeY, r, r * 0.8);
      if (s.glasses === 'dark') paint(out, s.glassesColor, cover(lens, aa) * 0.9);
      else tint(out, 1.05, cover(lens, aa) * 0.5);
      paint(out, s.glassesColor, cover(Math.abs(lens) - 0.014, aa));
      // Temple arm toward the ear.
      const arm = Math.max(Math.abs(y - s.eyeY + 0.04) - 0.012, s.eyeSpacing + r - x * side, x * side - s.faceRx);
      paint(out, s.glassesColor, cover(arm, aa));
    }
    const bridge = Math.max(Math.abs(y - s.eyeY + 0.03) - 0.01, Math.abs(x) - (s.eyeSpacing - r + 0.01));
    paint(out, s.glassesColor, cover(bridge, aa));
  }

  /** The occluder, drawn last: it may hide any part of the face, the mouth or an eye included. */
  private occluder(fx: number, fy: number, o: Occluder, out: Float64Array): void {
    const lx = o.cos * (fx - o.cx) + o.sin * (fy - o.cy);
    const ly = -o.sin * (fx - o.cx) + o.cos * (fy - o.cy);
    if (o.kind === 'hand') {
      // A palm with a rounded top; shaded across its width so it reads as a solid object.
      const sd = ellipseSd(lx, ly, o.rx, o.ry);
      const shade = 0.75 + 0.3 * clamp(0.5 - lx / (2 * o.rx), 0, 1);
      paintScaled(out, o.color, shade, cover(sd, this.aa));
    } else {
      const sd = Math.max(Math.abs(lx) - o.rx, Math.abs(ly) - o.ry * 1.5);
      paint(out, o.color, cover(sd, this.aa));
      tint(out, 1.15, cover(Math.max(sd, lx + o.rx * 0.6), this.aa) * 0.8);
    }
  }
}

/**
 * Camera response: white balance, exposure, contrast, optional grayscale, sensor noise and
 * quantisation. The constant factors are folded once per image, since this runs per pixel.
 */
class Camera {
  /** Per-channel gain (white balance x exposure x contrast) and the common offset after it. */
  private readonly gain: Rgb;
  private readonly offset: number;
  private readonly gray: boolean;
  private readonly lumaNoise: number;
  private readonly chromaNoise: number;
  /** State of a mulberry32 stream for the noise, seeded from the image's Rng. */
  private state: number;

  constructor(s: Scene) {
    const k = s.exposure * s.contrast;
    this.gain = [s.gains[0] * k, s.gains[1] * k, s.gains[2] * k];
    this.offset = 0.5 + s.brightness - 0.5 * s.contrast;
    this.gray = s.gray;
    this.lumaNoise = s.noise * 2;
    this.chromaNoise = s.gray ? 0 : s.noise * 0.6;
    this.state = s.noiseSeed >>> 0;
  }

  /** One uint32 of noise (mulberry32: tiny and fast; quality is ample for sensor grain). */
  private nextBits(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Writes the developed colour `rgb` as three bytes at `out[at]`. */
  develop(rgb: Float64Array, out: Uint8Array, at: number): void {
    let r = rgb[0] * this.gain[0];
    let g = rgb[1] * this.gain[1];
    let b = rgb[2] * this.gain[2];
    if (this.gray) r = g = b = 0.299 * r + 0.587 * g + 0.114 * b;
    // One 32-bit draw per pixel, cut into four bytes: noise mostly shared across the channels
    // (luminance, triangular from two bytes) with a little chroma.
    const bits = this.nextBits();
    const luma = (((bits & 255) + ((bits >>> 8) & 255)) / 255 - 1) * this.lumaNoise;
    const c1 = (((bits >>> 16) & 255) / 255 - 0.5) * this.chromaNoise;
    const c2 = ((bits >>> 24) / 255 - 0.5) * this.chromaNoise;
    const base = this.offset + luma;
    out[at] = toByte(r + base + c1);
    out[at + 1] = toByte(g + base - 0.5 * (c1 + c2));
    out[at + 2] = toByte(b + base + c2);
  }
}

/** [0, 1] to 0..255, rounded and clamped. */
function toByte(v: number): number {
  const scaled = v * 255 + 0.5;
  return scaled <= 0 ? 0 : scaled >= 255 ? 255 : scaled | 0;
}

/**
 * Renders one synthetic face of expression class `label` (an index into EXPRESSION_CLASSES) as
 * `size` x `size` RGB, row-major, uint8. Everything random is drawn from `rng`, so the same
 * generator state gives the same image; `rng` is advanced, so the next call gives another face.
 *
 * The person, pose, lighting and background are drawn independently of `label`: two generators
 * in the same state rendering two labels give the same person in the same scene with two
 * expressions (the tests use this to measure the expression signal apart from the nuisance).
 */
export function renderSyntheticFace(label: number, rng: Rng, size: number): Uint8Array {
  if (!Number.isInteger(label) || label < 0 || label >= EXPRESSION_CLASSES.length) {
    throw new RangeError(`renderSyntheticFace: label must be 0..${EXPRESSION_CLASSES.length - 1}, got ${label}`);
  }
  if (!Number.isInteger(size) || size < 4) throw new RangeError(`renderSyntheticFace: size must be an integer >= 4, got ${size}`);
  // Separate streams, so tuning how one is drawn does not reshuffle the other, and so the scene
  // does not depend on the label.
  const expression = sampleExpression(label, rng.fork('expression'));
  const scene = sampleScene(rng.fork('scene'));
  // fork() leaves `rng` where it was: step it, so successive calls on one generator differ.
  rng.nextUint32();
  const renderer = new FaceRenderer(expression, scene, size);
  const camera = new Camera(scene);
  const image = new Uint8Array(size * size * 3);
  const rgb = new Float64Array(3);
  for (let py = 0; py < size; py++) {
    const y = ((py + 0.5) / size) * 2 - 1;
    for (let px = 0; px < size; px++) {
      const x = ((px + 0.5) / size) * 2 - 1;
      renderer.pixel(x, y, rgb);
      camera.develop(rgb, image, (py * size + px) * 3);
    }
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// Data source
// ---------------------------------------------------------------------------------------------

export interface SyntheticOptions {
  /** Base seed; the same seed always gives the same dataset. */
  seed: number;
  /** Images per class in the `train` split (default 200). */
  trainPerClass?: number;
  /** Images per class in the `test` split (default 50). */
  testPerClass?: number;
}

const SYNTHETIC_SPLITS = ['train', 'test'] as const;

function positiveCount(name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new DataError(`synthetic: ${name} must be a positive integer, got ${value}`);
  return n;
}

/**
 * The built-in dataset: `train` and `test` splits of synthetic faces over EXPRESSION_CLASSES.
 * Samples are interleaved by class (sample i has class i mod 7) and sample k of a class in a split
 * is drawn from `new Rng(seed).fork('<split>/<class>/<k>')`, the same key that names it in
 * `sources` (`synthetic:train/happy/17`). So an image depends only on the seed, split and index:
 * never on what was loaded before, and growing a split only appends images.
 */
export function createSyntheticSource(options: SyntheticOptions): DataSource {
  if (!Number.isInteger(options.seed)) throw new DataError(`synthetic: seed must be an integer, got ${options.seed}`);
  const perClass = new Map<string, number>([
    ['train', positiveCount('trainPerClass', options.trainPerClass, 200)],
    ['test', positiveCount('testPerClass', options.testPerClass, 50)],
  ]);
  const classes = [...EXPRESSION_CLASSES];
  return streamable({
    description: `synthetic faces (seed ${options.seed}, ${perClass.get('train')}+${perClass.get('test')} per class)`,
    classes: async () => [...classes],
    splits: async () => [...SYNTHETIC_SPLITS],
    // Only imageSize is needed; the logger is optional here so tools can call this directly.
    async load(split: string, loadOptions: Pick<LoadOptions, 'imageSize'> & Partial<LoadOptions>): Promise<ImageSet> {
      const perSplit = perClass.get(split);
      if (perSplit === undefined) {
        throw new DataError(`synthetic: no split "${split}" (the splits are ${SYNTHETIC_SPLITS.join(', ')})`);
      }
      const size = loadOptions.imageSize;
      if (!Number.isInteger(size) || size < 4) throw new DataError(`synthetic: imageSize must be an integer >= 4, got ${size}`);
      const started = performance.now();
      const count = perSplit * classes.length;
      const pixels = size * size * 3;
      const images = new Uint8Array(count * pixels);
      const labels = new Int32Array(count);
      const sources: string[] = [];
      const root = new Rng(options.seed);
      for (let i = 0; i < count; i++) {
        const label = i % classes.length;
        const key = `${split}/${classes[label]}/${Math.floor(i / classes.length)}`;
        // fork() reads but does not advance `root`, so every image starts from the same root state.
        images.set(renderSyntheticFace(label, root.fork(key), size), i * pixels);
        labels[i] = label;
        sources.push(`synthetic:${key}`);
      }
      loadOptions.logger?.debug('rendered synthetic faces', {
        split,
        count,
        size,
        ms: Math.round(performance.now() - started),
      });
      return { images, labels, count, size, classes: [...classes], sources, skipped: [] };
    },
  });
}
