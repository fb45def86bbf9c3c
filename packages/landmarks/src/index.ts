/**
 * @fermix/landmarks: five-point face landmarks for fermix's alignment (`data.align.landmarks:
 * model`), from @vladmandic/face-api's SSD MobileNet v1 face detector and its 68-point landmark
 * model. The models ship inside the face-api package and are read from disk; nothing is fetched
 * from the network. They run on the host's tfjs (the same engine and backend as fermix).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initWasmBackend } from '@fermix/core';
import { fivePointsFrom68, type DetectedFace, type FivePoints, type LandmarkDetector, type Point2 } from '@fermix/data';
import { faceApiDir, loadFaceApi, type FaceApi, type FaceApiNet } from './face-api.js';
import { readWeightMap } from './model-files.js';
import path from 'node:path';

export { fivePointsFrom68 } from '@fermix/data';
export { readWeightMap } from './model-files.js';
export { loadFaceApi, faceApiDir, type FaceApi } from './face-api.js';

export interface FaceLandmarkerOptions {
  /**
   * Folder holding `ssd_mobilenetv1_model-weights_manifest.json`, `face_landmark_68_model-weights_manifest.json`
   * and their `.bin` shards. Default: the `model/` folder of the installed @vladmandic/face-api.
   */
  modelDir?: string;
  /** The face detector's score threshold, in (0, 1). Default 0.5. */
  minConfidence?: number;
  /**
   * `wasm` (default): make tfjs's wasm backend active (via @fermix/core's initWasmBackend) unless it
   * already is; `current`: run on whichever backend is active.
   */
  backend?: 'wasm' | 'current';
}

/** A face found with all 68 points, as well as the five fermix aligns by. */
export interface DetectedFace68 extends DetectedFace {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** The 68 iBUG 300-W points in image pixels. */
  points68: Point2[];
}

export interface FaceLandmarker extends LandmarkDetector {
  /**
   * The most confident face in an RGB image (`rgb`: width * height * 3 bytes, row-major) with its
   * five points (eye centres, nose tip, mouth corners), or null when no face reaches minConfidence.
   */
  detect(rgb: Uint8Array, width: number, height: number): Promise<DetectedFace68 | null>;
  /** Frees the models' weights. The landmarker cannot be used afterwards. */
  dispose(): void;
}

const DETECTOR_MODEL = 'ssd_mobilenetv1_model';
const LANDMARK_MODEL = 'face_landmark_68_model';

/** Loads the face detector and the 68-point landmark model from disk. */
export async function createFaceLandmarker(options: FaceLandmarkerOptions = {}): Promise<FaceLandmarker> {
  const minConfidence = options.minConfidence ?? 0.5;
  if (!(minConfidence > 0 && minConfidence < 1)) throw new Error(`minConfidence must be in (0, 1), got ${minConfidence}`);
  // engine().backendName is null until a backend is chosen (tf.getBackend() would pick one first).
  if ((options.backend ?? 'wasm') === 'wasm' && tf.engine().backendName !== 'wasm') await initWasmBackend();
  await tf.ready();

  const faceapi: FaceApi = loadFaceApi();
  const modelDir = options.modelDir ?? path.join(faceApiDir(), 'model');
  const detector = new faceapi.SsdMobilenetv1() as FaceApiNet & SsdNet;
  const landmarker = new faceapi.FaceLandmark68Net() as FaceApiNet & LandmarkNet;
  try {
    detector.loadFromWeightMap(readWeightMap(modelDir, DETECTOR_MODEL));
    landmarker.loadFromWeightMap(readWeightMap(modelDir, LANDMARK_MODEL));
  } catch (err) {
    if (detector.isLoaded) detector.dispose();
    throw err;
  }
  const detectorOptions = new faceapi.SsdMobilenetv1Options({ minConfidence, maxResults: 10 });
  let disposed = false;

  return {
    async detect(rgb, width, height) {
      if (disposed) throw new Error('this face landmarker was disposed');
      if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
        throw new Error(`detect: width and height must be positive integers, got ${width}x${height}`);
      }
      if (rgb.length !== width * height * 3) throw new Error(`detect: expected ${width}x${height}x3 = ${width * height * 3} RGB bytes, got ${rgb.length}`);
      const input = tf.tensor3d(rgb, [height, width, 3], 'int32');
      try {
        const detections = await detector.locateFaces(input, detectorOptions);
        if (detections.length === 0) return null;
        const best = detections.reduce((a, b) => (b.score > a.score ? b : a));
        // The crop face-api's own pipeline uses: the box clipped to the image (extractFaceTensors).
        const crop = best.box.clipAtImageBorders(width, height);
        if (crop.width < 1 || crop.height < 1) return null;
        const [face] = await faceapi.extractFaceTensors(input, [crop]);
        let landmarks;
        try {
          landmarks = (await landmarker.detectLandmarks(face)) as { positions: Point2[] };
        } finally {
          face.dispose();
        }
        const points68 = landmarks.positions.map((p) => ({ x: p.x + crop.x, y: p.y + crop.y }));
        const points: FivePoints = fivePointsFrom68(points68);
        const { x, y, width: w, height: h } = best.box;
        return { points, points68, box: { x, y, width: w, height: h }, score: best.score };
      } finally {
        input.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      detector.dispose();
      landmarker.dispose();
    },
  };
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
  clipAtImageBorders(width: number, height: number): Box;
}
interface SsdNet {
  locateFaces(input: tf.Tensor3D, options: unknown): Promise<{ score: number; box: Box }[]>;
}
interface LandmarkNet {
  detectLandmarks(input: tf.Tensor3D): Promise<unknown>;
}

declare module './face-api.js' {
  interface FaceApi {
    extractFaceTensors(image: tf.Tensor3D, boxes: Box[]): Promise<tf.Tensor3D[]>;
  }
}
