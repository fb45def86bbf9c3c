/**
 * Deprecated: the names @fermix/core exported before the data formats, decoding, streaming and
 * alignment moved to @fermix/data. They stay importable from @fermix/core for one minor version and
 * will then be removed: import them from @fermix/data.
 *
 * @fermix/data depends on @fermix/core, so core must not load it when it is imported (a package cycle,
 * and a core that loads every dataset format again). This file imports only its types. A function
 * here calls the real one, loaded on first use; `DecodePool` is a proxy of the real class; the
 * constants are copies (core-imports.test.ts and deprecated-data.test.ts hold them equal).
 *
 * Loading: @fermix/data's index hands its module to `provideDataModule` when it is evaluated, so a
 * program that imports @fermix/data anywhere (the CLI does) shares that one instance. Otherwise the
 * first use requires it: in the ESM build its ESM entry (Node >= 20.19 requires an ES module
 * synchronously, as the same instance the ESM loader has), else, and in the CJS build, its CJS entry.
 * The first use of each name emits one DeprecationWarning (code FERMIX_DEP_CORE_DATA).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Data from '@fermix/data';
import { EXPRESSION_CLASSES } from './data/source.js';

type DataModule = typeof Data;

/** The warning code of every deprecated data name used from @fermix/core. */
export const DEPRECATED_DATA_WARNING = 'FERMIX_DEP_CORE_DATA';

let dataModule: DataModule | undefined;
const warned = new Set<string>();

/**
 * Called by @fermix/data's index when it is evaluated, with its module namespace: the deprecated
 * names then use that instance. Not for programs.
 */
export function provideDataModule(data: object): void {
  dataModule ??= data as DataModule;
}

function warnOnce(name: string): void {
  if (warned.has(name)) return;
  warned.add(name);
  process.emitWarning(`${name} from @fermix/core is deprecated: it moved to @fermix/data. Use import { ${name} } from '@fermix/data' (@fermix/core stops exporting it in the next minor version).`, {
    type: 'DeprecationWarning',
    code: DEPRECATED_DATA_WARNING,
  });
}

/** True when `err` says @fermix/data itself cannot be found (not a module it imports). */
function isDataMissing(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (e?.code === 'MODULE_NOT_FOUND' || e?.code === 'ERR_MODULE_NOT_FOUND') && /['"]@fermix\/data['"]/.test(String(e.message));
}

/** @fermix/data, the instance it provided, or else required now (the single on-demand loader). */
function loadData(name: string): DataModule {
  if (dataModule) return dataModule;
  const require = createRequire(import.meta.url);
  // Only the ESM build has import.meta.resolve (in the CJS build import.meta is an empty object).
  const resolve = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  try {
    let esmEntry: string | undefined;
    try {
      if (typeof resolve === 'function') esmEntry = fileURLToPath(resolve('@fermix/data'));
    } catch (err) {
      if (!isDataMissing(err)) throw err;
    }
    if (esmEntry !== undefined) {
      try {
        dataModule ??= require(esmEntry) as DataModule;
      } catch (err) {
        // Node < 20.19 (or --no-experimental-require-module) cannot require an ES module: take the CJS entry.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
      }
    }
    dataModule ??= require('@fermix/data') as DataModule;
  } catch (err) {
    if (isDataMissing(err)) {
      throw new Error(`${name} moved to @fermix/data: install @fermix/data (it comes with @fermix/cli) and import { ${name} } from '@fermix/data'`, { cause: err });
    }
    throw err;
  }
  return dataModule;
}

type FunctionName = { [K in keyof DataModule]: DataModule[K] extends (...args: never[]) => unknown ? K : never }[keyof DataModule];

/** A function with the signature of @fermix/data's `name` that calls it (loading @fermix/data first). */
function movedFunction<K extends FunctionName>(name: K): DataModule[K] {
  const fn = function (this: unknown, ...args: unknown[]): unknown {
    warnOnce(name);
    return (loadData(name)[name] as (...a: unknown[]) => unknown).apply(this, args);
  };
  Object.defineProperty(fn, 'name', { value: name });
  return fn as unknown as DataModule[K];
}

/** A stand-in for @fermix/data's class `name`: `new`, statics, `instanceof` and `extends` reach the real class. */
function movedClass<K extends 'DecodePool'>(name: K): DataModule[K] {
  const real = (): DataModule[K] => {
    warnOnce(name);
    return loadData(name)[name];
  };
  // A plain function as the target: constructible, and its `prototype` is writable, so `get` may answer the real one.
  const target = function () {} as unknown as DataModule[K];
  Object.defineProperty(target, 'name', { value: name });
  const stand: DataModule[K] = new Proxy(target, {
    construct: (_t, args, newTarget) => Reflect.construct(real(), args, newTarget === stand ? real() : newTarget),
    get: (_t, key) => Reflect.get(real(), key),
    has: (_t, key) => Reflect.has(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
  return stand;
}

// The class.
/** @deprecated Moved to @fermix/data: `import { DecodePool } from '@fermix/data'`. */
export const DecodePool = movedClass('DecodePool');
/** @deprecated Moved to @fermix/data: `import { DecodePool } from '@fermix/data'`. */
export type DecodePool = Data.DecodePool;

// Constants: values at import time, so copies of @fermix/data's (deprecated-data.test.ts checks they are equal).
/** @deprecated Moved to @fermix/data: `import { RAFDB_LABEL_FILE } from '@fermix/data'`. */
export const RAFDB_LABEL_FILE: typeof Data.RAFDB_LABEL_FILE = 'EmoLabel/list_patition_label.txt';
/** @deprecated Moved to @fermix/data: `import { RAFDB_ORIGINAL_DIR } from '@fermix/data'`. */
export const RAFDB_ORIGINAL_DIR: typeof Data.RAFDB_ORIGINAL_DIR = 'Image/original';
/** @deprecated Moved to @fermix/data: `import { RAFDB_ANNOTATION_DIR } from '@fermix/data'`. */
export const RAFDB_ANNOTATION_DIR: typeof Data.RAFDB_ANNOTATION_DIR = 'Annotation/manual';
/** @deprecated Moved to @fermix/data: `import { CONTEMPT } from '@fermix/data'`. */
export const CONTEMPT: typeof Data.CONTEMPT = 'contempt';
/** @deprecated Moved to @fermix/data: `import { EXPRESSION_CLASSES_WITH_CONTEMPT } from '@fermix/data'`. */
export const EXPRESSION_CLASSES_WITH_CONTEMPT: typeof Data.EXPRESSION_CLASSES_WITH_CONTEMPT = Object.freeze([...EXPRESSION_CLASSES, CONTEMPT]);
/** @deprecated Moved to @fermix/data: `import { RAFDB_BASIC_LABELS } from '@fermix/data'`. */
export const RAFDB_BASIC_LABELS: typeof Data.RAFDB_BASIC_LABELS = Object.freeze(['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'] as const);
/** @deprecated Moved to @fermix/data: `import { FER2013_LABELS } from '@fermix/data'`. */
export const FER2013_LABELS: typeof Data.FER2013_LABELS = Object.freeze(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const);
/** @deprecated Moved to @fermix/data: `import { AFFECTNET_LABELS } from '@fermix/data'`. */
export const AFFECTNET_LABELS: typeof Data.AFFECTNET_LABELS = Object.freeze(['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'anger', 'contempt'] as const);
/** @deprecated Moved to @fermix/data: `import { ALIGN_SIZES } from '@fermix/data'`. */
export const ALIGN_SIZES: typeof Data.ALIGN_SIZES = Object.freeze([100, 112] as const);
/** @deprecated Moved to @fermix/data: `import { FIVE_POINT_NAMES } from '@fermix/data'`. */
export const FIVE_POINT_NAMES: typeof Data.FIVE_POINT_NAMES = Object.freeze(['left eye', 'right eye', 'nose tip', 'left mouth corner', 'right mouth corner'] as const);
/** @deprecated Moved to @fermix/data: `import { ARCFACE_TEMPLATE_112 } from '@fermix/data'`. */
export const ARCFACE_TEMPLATE_112: typeof Data.ARCFACE_TEMPLATE_112 = Object.freeze([
  Object.freeze({ x: 38.2946, y: 51.6963 }),
  Object.freeze({ x: 73.5318, y: 51.5014 }),
  Object.freeze({ x: 56.0252, y: 71.7366 }),
  Object.freeze({ x: 41.5493, y: 92.3655 }),
  Object.freeze({ x: 70.7299, y: 92.2041 }),
]) as typeof Data.ARCFACE_TEMPLATE_112;

// Functions: each loads @fermix/data on its first call (one DeprecationWarning per name).
/** @deprecated Moved to @fermix/data: `import { createImageFolderSource } from '@fermix/data'`. */
export const createImageFolderSource = movedFunction('createImageFolderSource');
/** @deprecated Moved to @fermix/data: `import { decodeImage } from '@fermix/data'`. */
export const decodeImage = movedFunction('decodeImage');
/** @deprecated Moved to @fermix/data: `import { toRgbResized } from '@fermix/data'`. */
export const toRgbResized = movedFunction('toRgbResized');
/** @deprecated Moved to @fermix/data: `import { decodeFiles } from '@fermix/data'`. */
export const decodeFiles = movedFunction('decodeFiles');
/** @deprecated Moved to @fermix/data: `import { createSyntheticSource } from '@fermix/data'`. */
export const createSyntheticSource = movedFunction('createSyntheticSource');
/** @deprecated Moved to @fermix/data: `import { renderSyntheticFace } from '@fermix/data'`. */
export const renderSyntheticFace = movedFunction('renderSyntheticFace');
/** @deprecated Moved to @fermix/data: `import { createRafdbSource } from '@fermix/data'`. */
export const createRafdbSource = movedFunction('createRafdbSource');
/** @deprecated Moved to @fermix/data: `import { parseRafdbLabels } from '@fermix/data'`. */
export const parseRafdbLabels = movedFunction('parseRafdbLabels');
/** @deprecated Moved to @fermix/data: `import { rafdbImagePath } from '@fermix/data'`. */
export const rafdbImagePath = movedFunction('rafdbImagePath');
/** @deprecated Moved to @fermix/data: `import { createFer2013CsvSource } from '@fermix/data'`. */
export const createFer2013CsvSource = movedFunction('createFer2013CsvSource');
/** @deprecated Moved to @fermix/data: `import { createAffectNetSource } from '@fermix/data'`. */
export const createAffectNetSource = movedFunction('createAffectNetSource');
/** @deprecated Moved to @fermix/data: `import { cropImage } from '@fermix/data'`. */
export const cropImage = movedFunction('cropImage');
/** @deprecated Moved to @fermix/data: `import { canonicalExpression } from '@fermix/data'`. */
export const canonicalExpression = movedFunction('canonicalExpression');
/** @deprecated Moved to @fermix/data: `import { canonicalFolderClasses } from '@fermix/data'`. */
export const canonicalFolderClasses = movedFunction('canonicalFolderClasses');
/** @deprecated Moved to @fermix/data: `import { canonicalOrder } from '@fermix/data'`. */
export const canonicalOrder = movedFunction('canonicalOrder');
/** @deprecated Moved to @fermix/data: `import { labelIndexTable } from '@fermix/data'`. */
export const labelIndexTable = movedFunction('labelIndexTable');
/** @deprecated Moved to @fermix/data: `import { hasInventory } from '@fermix/data'`. */
export const hasInventory = movedFunction('hasInventory');
/** @deprecated Moved to @fermix/data: `import { alignFace } from '@fermix/data'`. */
export const alignFace = movedFunction('alignFace');
/** @deprecated Moved to @fermix/data: `import { fivePointsFrom68 } from '@fermix/data'`. */
export const fivePointsFrom68 = movedFunction('fivePointsFrom68');
/** @deprecated Moved to @fermix/data: `import { alignmentTemplate } from '@fermix/data'`. */
export const alignmentTemplate = movedFunction('alignmentTemplate');
/** @deprecated Moved to @fermix/data: `import { applyTransform } from '@fermix/data'`. */
export const applyTransform = movedFunction('applyTransform');
/** @deprecated Moved to @fermix/data: `import { invertTransform } from '@fermix/data'`. */
export const invertTransform = movedFunction('invertTransform');
/** @deprecated Moved to @fermix/data: `import { similarityTransform } from '@fermix/data'`. */
export const similarityTransform = movedFunction('similarityTransform');
/** @deprecated Moved to @fermix/data: `import { transformMatrix } from '@fermix/data'`. */
export const transformMatrix = movedFunction('transformMatrix');
/** @deprecated Moved to @fermix/data: `import { transformResidual } from '@fermix/data'`. */
export const transformResidual = movedFunction('transformResidual');
/** @deprecated Moved to @fermix/data: `import { transformScaleRotation } from '@fermix/data'`. */
export const transformScaleRotation = movedFunction('transformScaleRotation');
/** @deprecated Moved to @fermix/data: `import { warpSimilarity } from '@fermix/data'`. */
export const warpSimilarity = movedFunction('warpSimilarity');
/** @deprecated Moved to @fermix/data: `import { alignImageFile } from '@fermix/data'`. */
export const alignImageFile = movedFunction('alignImageFile');
/** @deprecated Moved to @fermix/data: `import { isAlignable } from '@fermix/data'`. */
export const isAlignable = movedFunction('isAlignable');
/** @deprecated Moved to @fermix/data: `import { toRgbImage } from '@fermix/data'`. */
export const toRgbImage = movedFunction('toRgbImage');
/** @deprecated Moved to @fermix/data: `import { parseRafdbLandmarks } from '@fermix/data'`. */
export const parseRafdbLandmarks = movedFunction('parseRafdbLandmarks');
/** @deprecated Moved to @fermix/data: `import { rafdbAnnotationPath } from '@fermix/data'`. */
export const rafdbAnnotationPath = movedFunction('rafdbAnnotationPath');
/** @deprecated Moved to @fermix/data: `import { rafdbOriginalPath } from '@fermix/data'`. */
export const rafdbOriginalPath = movedFunction('rafdbOriginalPath');
/** @deprecated Moved to @fermix/data: `import { codecWith } from '@fermix/data'`. */
export const codecWith = movedFunction('codecWith');
/** @deprecated Moved to @fermix/data: `import { loadSharp } from '@fermix/data'`. */
export const loadSharp = movedFunction('loadSharp');
/** @deprecated Moved to @fermix/data: `import { streamedSplit } from '@fermix/data'`. */
export const streamedSplit = movedFunction('streamedSplit');
/** @deprecated Moved to @fermix/data: `import { defaultStreamWorkers } from '@fermix/data'`. */
export const defaultStreamWorkers = movedFunction('defaultStreamWorkers');
/** @deprecated Moved to @fermix/data: `import { openSplit } from '@fermix/data'`. */
export const openSplit = movedFunction('openSplit');
/** @deprecated Moved to @fermix/data: `import { isFileListSource } from '@fermix/data'`. */
export const isFileListSource = movedFunction('isFileListSource');

// Types (erased at runtime).
/** @deprecated Moved to @fermix/data: `import { ImageFolderOptions } from '@fermix/data'`. */
export type ImageFolderOptions = Data.ImageFolderOptions;
/** @deprecated Moved to @fermix/data: `import { DecodedImage } from '@fermix/data'`. */
export type DecodedImage = Data.DecodedImage;
/** @deprecated Moved to @fermix/data: `import { DecodeFilesOptions } from '@fermix/data'`. */
export type DecodeFilesOptions = Data.DecodeFilesOptions;
/** @deprecated Moved to @fermix/data: `import { DecodeResult } from '@fermix/data'`. */
export type DecodeResult = Data.DecodeResult;
/** @deprecated Moved to @fermix/data: `import { SyntheticOptions } from '@fermix/data'`. */
export type SyntheticOptions = Data.SyntheticOptions;
/** @deprecated Moved to @fermix/data: `import { RafdbOptions } from '@fermix/data'`. */
export type RafdbOptions = Data.RafdbOptions;
/** @deprecated Moved to @fermix/data: `import { RafdbEntry } from '@fermix/data'`. */
export type RafdbEntry = Data.RafdbEntry;
/** @deprecated Moved to @fermix/data: `import { Fer2013CsvOptions } from '@fermix/data'`. */
export type Fer2013CsvOptions = Data.Fer2013CsvOptions;
/** @deprecated Moved to @fermix/data: `import { AffectNetOptions } from '@fermix/data'`. */
export type AffectNetOptions = Data.AffectNetOptions;
/** @deprecated Moved to @fermix/data: `import { FaceBox } from '@fermix/data'`. */
export type FaceBox = Data.FaceBox;
/** @deprecated Moved to @fermix/data: `import { ExpressionName } from '@fermix/data'`. */
export type ExpressionName = Data.ExpressionName;
/** @deprecated Moved to @fermix/data: `import { InventorySource } from '@fermix/data'`. */
export type InventorySource = Data.InventorySource;
/** @deprecated Moved to @fermix/data: `import { SplitInventory } from '@fermix/data'`. */
export type SplitInventory = Data.SplitInventory;
/** @deprecated Moved to @fermix/data: `import { OnMissing } from '@fermix/data'`. */
export type OnMissing = Data.OnMissing;
/** @deprecated Moved to @fermix/data: `import { AlignedFace } from '@fermix/data'`. */
export type AlignedFace = Data.AlignedFace;
/** @deprecated Moved to @fermix/data: `import { AlignSize } from '@fermix/data'`. */
export type AlignSize = Data.AlignSize;
/** @deprecated Moved to @fermix/data: `import { DetectedFace } from '@fermix/data'`. */
export type DetectedFace = Data.DetectedFace;
/** @deprecated Moved to @fermix/data: `import { FivePoints } from '@fermix/data'`. */
export type FivePoints = Data.FivePoints;
/** @deprecated Moved to @fermix/data: `import { LandmarkDetector } from '@fermix/data'`. */
export type LandmarkDetector = Data.LandmarkDetector;
/** @deprecated Moved to @fermix/data: `import { Point2 } from '@fermix/data'`. */
export type Point2 = Data.Point2;
/** @deprecated Moved to @fermix/data: `import { RgbImage } from '@fermix/data'`. */
export type RgbImage = Data.RgbImage;
/** @deprecated Moved to @fermix/data: `import { SimilarityTransform } from '@fermix/data'`. */
export type SimilarityTransform = Data.SimilarityTransform;
/** @deprecated Moved to @fermix/data: `import { WarpBorder } from '@fermix/data'`. */
export type WarpBorder = Data.WarpBorder;
/** @deprecated Moved to @fermix/data: `import { AlignableSource } from '@fermix/data'`. */
export type AlignableSource = Data.AlignableSource;
/** @deprecated Moved to @fermix/data: `import { AlignConfig } from '@fermix/data'`. */
export type AlignConfig = Data.AlignConfig;
/** @deprecated Moved to @fermix/data: `import { AlignFailureKind } from '@fermix/data'`. */
export type AlignFailureKind = Data.AlignFailureKind;
/** @deprecated Moved to @fermix/data: `import { AlignItem } from '@fermix/data'`. */
export type AlignItem = Data.AlignItem;
/** @deprecated Moved to @fermix/data: `import { AlignOutcome } from '@fermix/data'`. */
export type AlignOutcome = Data.AlignOutcome;
/** @deprecated Moved to @fermix/data: `import { AlignPlan } from '@fermix/data'`. */
export type AlignPlan = Data.AlignPlan;
/** @deprecated Moved to @fermix/data: `import { DecodePoolOptions } from '@fermix/data'`. */
export type DecodePoolOptions = Data.DecodePoolOptions;
/** @deprecated Moved to @fermix/data: `import { DecoderChoice } from '@fermix/data'`. */
export type DecoderChoice = Data.DecoderChoice;
/** @deprecated Moved to @fermix/data: `import { DecodeItem } from '@fermix/data'`. */
export type DecodeItem = Data.DecodeItem;
/** @deprecated Moved to @fermix/data: `import { NativeDecode } from '@fermix/data'`. */
export type NativeDecode = Data.NativeDecode;
/** @deprecated Moved to @fermix/data: `import { StreamOptions } from '@fermix/data'`. */
export type StreamOptions = Data.StreamOptions;
/** @deprecated Moved to @fermix/data: `import { OpenSplitOptions } from '@fermix/data'`. */
export type OpenSplitOptions = Data.OpenSplitOptions;
/** @deprecated Moved to @fermix/data: `import { FileListSource } from '@fermix/data'`. */
export type FileListSource = Data.FileListSource;
/** @deprecated Moved to @fermix/data: `import { SplitFiles } from '@fermix/data'`. */
export type SplitFiles = Data.SplitFiles;
