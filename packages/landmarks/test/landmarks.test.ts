import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, toRgbImage, type RgbImage } from '@fermix/data';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFaceLandmarker, faceApiDir, fivePointsFrom68, loadFaceApi, type FaceLandmarker } from '../src/index.js';

/** The photos @vladmandic/face-api ships in its npm package (demo/sample1.jpg ... sample6.jpg). */
const SAMPLES = ['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg'];
const readSample = (name: string): RgbImage => {
  const file = path.join(faceApiDir(), 'demo', name);
  return toRgbImage(decodeImage(readFileSync(file), file));
};

let landmarker: FaceLandmarker;

beforeAll(async () => {
  // Offline: any attempt to fetch (models, wasm binaries) fails the test.
  vi.stubGlobal('fetch', () => {
    throw new Error('@fermix/landmarks must not use the network');
  });
  landmarker = await createFaceLandmarker();
  vi.unstubAllGlobals();
});

afterAll(() => landmarker?.dispose());

describe('face-api on fermix\'s tfjs', () => {
  it('shares one tfjs engine: same Tensor class, face-api\'s tensors counted in our tf.memory()', async () => {
    const faceapi = loadFaceApi();
    expect(faceapi.tf.Tensor).toBe(tf.Tensor);
    expect(faceapi.tf.engine()).toBe(tf.engine());
    // A second landmarker's weights (loaded into face-api's nets) are live tensors of our engine,
    // and disposing it gives them all back.
    const start = tf.memory().numTensors;
    const second = await createFaceLandmarker();
    expect(tf.memory().numTensors).toBeGreaterThan(start + 100);
    second.dispose();
    expect(tf.memory().numTensors).toBe(start);
    const before = tf.memory().numTensors;
    const t = faceapi.tf.zeros([2, 3]);
    expect(t).toBeInstanceOf(tf.Tensor);
    expect(tf.memory().numTensors).toBe(before + 1);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('createFaceLandmarker', () => {
  it.each(SAMPLES)('finds the face in face-api\'s demo photo %s, with plausible five points', async (name) => {
    const image = readSample(name);
    const before = tf.memory().numTensors;
    const face = await landmarker.detect(image.data, image.width, image.height);
    expect(tf.memory().numTensors).toBe(before); // no leaked tensors
    expect(face).not.toBeNull();
    const { points, box, score } = face!;
    expect(score).toBeGreaterThan(0.5);
    const [leftEye, rightEye, , leftMouth, rightMouth] = points;
    // In the face's own frame (u along the eye line, v perpendicular to it, pointing down the face),
    // so a tilted head (sample4 is turned about 30°) is judged like an upright one.
    const len = Math.hypot(rightEye.x - leftEye.x, rightEye.y - leftEye.y);
    const du = { x: (rightEye.x - leftEye.x) / len, y: (rightEye.y - leftEye.y) / len };
    const frame = (p: { x: number; y: number }) => ({
      u: (p.x - leftEye.x) * du.x + (p.y - leftEye.y) * du.y,
      v: -(p.x - leftEye.x) * du.y + (p.y - leftEye.y) * du.x,
    });
    const [, , n, lm, rm] = points.map(frame);
    // The eye line is closer to horizontal than vertical in the image, left eye on the left.
    expect(du.x).toBeGreaterThan(Math.abs(du.y));
    // Eyes above the nose tip above the mouth corners; nose between the eyes; mouth corners left/right.
    expect(n.v).toBeGreaterThan(0.2 * len);
    expect(Math.min(lm.v, rm.v)).toBeGreaterThan(n.v);
    expect(n.u).toBeGreaterThan(0);
    expect(n.u).toBeLessThan(len);
    expect(lm.u).toBeLessThan(rm.u);
    expect(leftMouth.x).toBeLessThan(rightMouth.x);
    // Every point inside the detected box.
    for (const p of points) {
      expect(p.x).toBeGreaterThanOrEqual(box.x);
      expect(p.x).toBeLessThanOrEqual(box.x + box.width);
      expect(p.y).toBeGreaterThanOrEqual(box.y);
      expect(p.y).toBeLessThanOrEqual(box.y + box.height);
    }
    // The eyes are a sensible fraction of the face apart (not collapsed onto one point).
    expect(len).toBeGreaterThan(0.2 * box.width);
    expect(len).toBeLessThan(0.8 * box.width);
  });

  it('returns null for a picture with no face: uniform grey, and noise', async () => {
    const width = 320;
    const height = 240;
    const grey = new Uint8Array(width * height * 3).fill(128);
    expect(await landmarker.detect(grey, width, height)).toBeNull();
    let seed = 12345;
    const noise = Uint8Array.from({ length: width * height * 3 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) & 255);
    expect(await landmarker.detect(noise, width, height)).toBeNull();
  });

  it('rejects pixel buffers of the wrong length', async () => {
    await expect(landmarker.detect(new Uint8Array(10), 4, 4)).rejects.toThrow(/expected 4x4x3 = 48 RGB bytes, got 10/);
  });
});

describe('fivePointsFrom68', () => {
  it('takes the eye centres (36-41, 42-47), the nose tip (30) and the mouth corners (48, 54)', () => {
    const points = Array.from({ length: 68 }, (_, i) => ({ x: i, y: 1000 + i }));
    expect(fivePointsFrom68(points)).toEqual([
      { x: 38.5, y: 1038.5 },
      { x: 44.5, y: 1044.5 },
      { x: 30, y: 1030 },
      { x: 48, y: 1048 },
      { x: 54, y: 1054 },
    ]);
    expect(() => fivePointsFrom68(points.slice(0, 5))).toThrow(/expected 68 landmarks, got 5/);
  });
});
