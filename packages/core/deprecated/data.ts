/**
 * Deprecated: the names @fermix/core exported before the data formats, decoding, streaming and
 * alignment moved to @fermix/data (0.2). This subpath is not part of @fermix/core's own module graph:
 * importing it needs @fermix/data installed (it comes with @fermix/cli). It will be removed in the next
 * minor version: import these names from @fermix/data.
 */
import * as data from '@fermix/data';

/** @deprecated Moved to @fermix/data: `import { createImageFolderSource } from '@fermix/data'`. */
export const createImageFolderSource = data.createImageFolderSource;
/** @deprecated Moved to @fermix/data: `import { ImageFolderOptions } from '@fermix/data'`. */
export type ImageFolderOptions = data.ImageFolderOptions;
/** @deprecated Moved to @fermix/data: `import { decodeImage } from '@fermix/data'`. */
export const decodeImage = data.decodeImage;
/** @deprecated Moved to @fermix/data: `import { toRgbResized } from '@fermix/data'`. */
export const toRgbResized = data.toRgbResized;
/** @deprecated Moved to @fermix/data: `import { DecodedImage } from '@fermix/data'`. */
export type DecodedImage = data.DecodedImage;
/** @deprecated Moved to @fermix/data: `import { decodeFiles } from '@fermix/data'`. */
export const decodeFiles = data.decodeFiles;
/** @deprecated Moved to @fermix/data: `import { DecodeFilesOptions } from '@fermix/data'`. */
export type DecodeFilesOptions = data.DecodeFilesOptions;
/** @deprecated Moved to @fermix/data: `import { DecodeResult } from '@fermix/data'`. */
export type DecodeResult = data.DecodeResult;
/** @deprecated Moved to @fermix/data: `import { createSyntheticSource } from '@fermix/data'`. */
export const createSyntheticSource = data.createSyntheticSource;
/** @deprecated Moved to @fermix/data: `import { renderSyntheticFace } from '@fermix/data'`. */
export const renderSyntheticFace = data.renderSyntheticFace;
/** @deprecated Moved to @fermix/data: `import { SyntheticOptions } from '@fermix/data'`. */
export type SyntheticOptions = data.SyntheticOptions;
/** @deprecated Moved to @fermix/data: `import { createRafdbSource } from '@fermix/data'`. */
export const createRafdbSource = data.createRafdbSource;
/** @deprecated Moved to @fermix/data: `import { parseRafdbLabels } from '@fermix/data'`. */
export const parseRafdbLabels = data.parseRafdbLabels;
/** @deprecated Moved to @fermix/data: `import { rafdbImagePath } from '@fermix/data'`. */
export const rafdbImagePath = data.rafdbImagePath;
/** @deprecated Moved to @fermix/data: `import { RAFDB_LABEL_FILE } from '@fermix/data'`. */
export const RAFDB_LABEL_FILE = data.RAFDB_LABEL_FILE;
/** @deprecated Moved to @fermix/data: `import { RafdbOptions } from '@fermix/data'`. */
export type RafdbOptions = data.RafdbOptions;
/** @deprecated Moved to @fermix/data: `import { RafdbEntry } from '@fermix/data'`. */
export type RafdbEntry = data.RafdbEntry;
/** @deprecated Moved to @fermix/data: `import { createFer2013CsvSource } from '@fermix/data'`. */
export const createFer2013CsvSource = data.createFer2013CsvSource;
/** @deprecated Moved to @fermix/data: `import { Fer2013CsvOptions } from '@fermix/data'`. */
export type Fer2013CsvOptions = data.Fer2013CsvOptions;
/** @deprecated Moved to @fermix/data: `import { createAffectNetSource } from '@fermix/data'`. */
export const createAffectNetSource = data.createAffectNetSource;
/** @deprecated Moved to @fermix/data: `import { cropImage } from '@fermix/data'`. */
export const cropImage = data.cropImage;
/** @deprecated Moved to @fermix/data: `import { AffectNetOptions } from '@fermix/data'`. */
export type AffectNetOptions = data.AffectNetOptions;
/** @deprecated Moved to @fermix/data: `import { FaceBox } from '@fermix/data'`. */
export type FaceBox = data.FaceBox;
/** @deprecated Moved to @fermix/data: `import { canonicalExpression } from '@fermix/data'`. */
export const canonicalExpression = data.canonicalExpression;
/** @deprecated Moved to @fermix/data: `import { canonicalFolderClasses } from '@fermix/data'`. */
export const canonicalFolderClasses = data.canonicalFolderClasses;
/** @deprecated Moved to @fermix/data: `import { canonicalOrder } from '@fermix/data'`. */
export const canonicalOrder = data.canonicalOrder;
/** @deprecated Moved to @fermix/data: `import { labelIndexTable } from '@fermix/data'`. */
export const labelIndexTable = data.labelIndexTable;
/** @deprecated Moved to @fermix/data: `import { hasInventory } from '@fermix/data'`. */
export const hasInventory = data.hasInventory;
/** @deprecated Moved to @fermix/data: `import { CONTEMPT } from '@fermix/data'`. */
export const CONTEMPT = data.CONTEMPT;
/** @deprecated Moved to @fermix/data: `import { EXPRESSION_CLASSES_WITH_CONTEMPT } from '@fermix/data'`. */
export const EXPRESSION_CLASSES_WITH_CONTEMPT = data.EXPRESSION_CLASSES_WITH_CONTEMPT;
/** @deprecated Moved to @fermix/data: `import { RAFDB_BASIC_LABELS } from '@fermix/data'`. */
export const RAFDB_BASIC_LABELS = data.RAFDB_BASIC_LABELS;
/** @deprecated Moved to @fermix/data: `import { FER2013_LABELS } from '@fermix/data'`. */
export const FER2013_LABELS = data.FER2013_LABELS;
/** @deprecated Moved to @fermix/data: `import { AFFECTNET_LABELS } from '@fermix/data'`. */
export const AFFECTNET_LABELS = data.AFFECTNET_LABELS;
/** @deprecated Moved to @fermix/data: `import { ExpressionName } from '@fermix/data'`. */
export type ExpressionName = data.ExpressionName;
/** @deprecated Moved to @fermix/data: `import { InventorySource } from '@fermix/data'`. */
export type InventorySource = data.InventorySource;
/** @deprecated Moved to @fermix/data: `import { SplitInventory } from '@fermix/data'`. */
export type SplitInventory = data.SplitInventory;
/** @deprecated Moved to @fermix/data: `import { OnMissing } from '@fermix/data'`. */
export type OnMissing = data.OnMissing;
/** @deprecated Moved to @fermix/data: `import { alignFace } from '@fermix/data'`. */
export const alignFace = data.alignFace;
/** @deprecated Moved to @fermix/data: `import { fivePointsFrom68 } from '@fermix/data'`. */
export const fivePointsFrom68 = data.fivePointsFrom68;
/** @deprecated Moved to @fermix/data: `import { alignmentTemplate } from '@fermix/data'`. */
export const alignmentTemplate = data.alignmentTemplate;
/** @deprecated Moved to @fermix/data: `import { applyTransform } from '@fermix/data'`. */
export const applyTransform = data.applyTransform;
/** @deprecated Moved to @fermix/data: `import { invertTransform } from '@fermix/data'`. */
export const invertTransform = data.invertTransform;
/** @deprecated Moved to @fermix/data: `import { similarityTransform } from '@fermix/data'`. */
export const similarityTransform = data.similarityTransform;
/** @deprecated Moved to @fermix/data: `import { transformMatrix } from '@fermix/data'`. */
export const transformMatrix = data.transformMatrix;
/** @deprecated Moved to @fermix/data: `import { transformResidual } from '@fermix/data'`. */
export const transformResidual = data.transformResidual;
/** @deprecated Moved to @fermix/data: `import { transformScaleRotation } from '@fermix/data'`. */
export const transformScaleRotation = data.transformScaleRotation;
/** @deprecated Moved to @fermix/data: `import { warpSimilarity } from '@fermix/data'`. */
export const warpSimilarity = data.warpSimilarity;
/** @deprecated Moved to @fermix/data: `import { ALIGN_SIZES } from '@fermix/data'`. */
export const ALIGN_SIZES = data.ALIGN_SIZES;
/** @deprecated Moved to @fermix/data: `import { ARCFACE_TEMPLATE_112 } from '@fermix/data'`. */
export const ARCFACE_TEMPLATE_112 = data.ARCFACE_TEMPLATE_112;
/** @deprecated Moved to @fermix/data: `import { FIVE_POINT_NAMES } from '@fermix/data'`. */
export const FIVE_POINT_NAMES = data.FIVE_POINT_NAMES;
/** @deprecated Moved to @fermix/data: `import { AlignedFace } from '@fermix/data'`. */
export type AlignedFace = data.AlignedFace;
/** @deprecated Moved to @fermix/data: `import { AlignSize } from '@fermix/data'`. */
export type AlignSize = data.AlignSize;
/** @deprecated Moved to @fermix/data: `import { DetectedFace } from '@fermix/data'`. */
export type DetectedFace = data.DetectedFace;
/** @deprecated Moved to @fermix/data: `import { FivePoints } from '@fermix/data'`. */
export type FivePoints = data.FivePoints;
/** @deprecated Moved to @fermix/data: `import { LandmarkDetector } from '@fermix/data'`. */
export type LandmarkDetector = data.LandmarkDetector;
/** @deprecated Moved to @fermix/data: `import { Point2 } from '@fermix/data'`. */
export type Point2 = data.Point2;
/** @deprecated Moved to @fermix/data: `import { RgbImage } from '@fermix/data'`. */
export type RgbImage = data.RgbImage;
/** @deprecated Moved to @fermix/data: `import { SimilarityTransform } from '@fermix/data'`. */
export type SimilarityTransform = data.SimilarityTransform;
/** @deprecated Moved to @fermix/data: `import { WarpBorder } from '@fermix/data'`. */
export type WarpBorder = data.WarpBorder;
/** @deprecated Moved to @fermix/data: `import { alignImageFile } from '@fermix/data'`. */
export const alignImageFile = data.alignImageFile;
/** @deprecated Moved to @fermix/data: `import { isAlignable } from '@fermix/data'`. */
export const isAlignable = data.isAlignable;
/** @deprecated Moved to @fermix/data: `import { toRgbImage } from '@fermix/data'`. */
export const toRgbImage = data.toRgbImage;
/** @deprecated Moved to @fermix/data: `import { AlignableSource } from '@fermix/data'`. */
export type AlignableSource = data.AlignableSource;
/** @deprecated Moved to @fermix/data: `import { AlignConfig } from '@fermix/data'`. */
export type AlignConfig = data.AlignConfig;
/** @deprecated Moved to @fermix/data: `import { AlignFailureKind } from '@fermix/data'`. */
export type AlignFailureKind = data.AlignFailureKind;
/** @deprecated Moved to @fermix/data: `import { AlignItem } from '@fermix/data'`. */
export type AlignItem = data.AlignItem;
/** @deprecated Moved to @fermix/data: `import { AlignOutcome } from '@fermix/data'`. */
export type AlignOutcome = data.AlignOutcome;
/** @deprecated Moved to @fermix/data: `import { AlignPlan } from '@fermix/data'`. */
export type AlignPlan = data.AlignPlan;
/** @deprecated Moved to @fermix/data: `import { parseRafdbLandmarks } from '@fermix/data'`. */
export const parseRafdbLandmarks = data.parseRafdbLandmarks;
/** @deprecated Moved to @fermix/data: `import { rafdbAnnotationPath } from '@fermix/data'`. */
export const rafdbAnnotationPath = data.rafdbAnnotationPath;
/** @deprecated Moved to @fermix/data: `import { rafdbOriginalPath } from '@fermix/data'`. */
export const rafdbOriginalPath = data.rafdbOriginalPath;
/** @deprecated Moved to @fermix/data: `import { RAFDB_ANNOTATION_DIR } from '@fermix/data'`. */
export const RAFDB_ANNOTATION_DIR = data.RAFDB_ANNOTATION_DIR;
/** @deprecated Moved to @fermix/data: `import { RAFDB_ORIGINAL_DIR } from '@fermix/data'`. */
export const RAFDB_ORIGINAL_DIR = data.RAFDB_ORIGINAL_DIR;
/** @deprecated Moved to @fermix/data: `import { DecodePool } from '@fermix/data'`. */
export const DecodePool = data.DecodePool;
/** @deprecated Moved to @fermix/data: `import { DecodePool } from '@fermix/data'`. */
export type DecodePool = data.DecodePool;
/** @deprecated Moved to @fermix/data: `import { DecodePoolOptions } from '@fermix/data'`. */
export type DecodePoolOptions = data.DecodePoolOptions;
/** @deprecated Moved to @fermix/data: `import { DecoderChoice } from '@fermix/data'`. */
export type DecoderChoice = data.DecoderChoice;
/** @deprecated Moved to @fermix/data: `import { codecWith } from '@fermix/data'`. */
export const codecWith = data.codecWith;
/** @deprecated Moved to @fermix/data: `import { DecodeItem } from '@fermix/data'`. */
export type DecodeItem = data.DecodeItem;
/** @deprecated Moved to @fermix/data: `import { NativeDecode } from '@fermix/data'`. */
export type NativeDecode = data.NativeDecode;
/** @deprecated Moved to @fermix/data: `import { loadSharp } from '@fermix/data'`. */
export const loadSharp = data.loadSharp;
/** @deprecated Moved to @fermix/data: `import { streamedSplit } from '@fermix/data'`. */
export const streamedSplit = data.streamedSplit;
/** @deprecated Moved to @fermix/data: `import { defaultStreamWorkers } from '@fermix/data'`. */
export const defaultStreamWorkers = data.defaultStreamWorkers;
/** @deprecated Moved to @fermix/data: `import { StreamOptions } from '@fermix/data'`. */
export type StreamOptions = data.StreamOptions;
/** @deprecated Moved to @fermix/data: `import { openSplit } from '@fermix/data'`. */
export const openSplit = data.openSplit;
/** @deprecated Moved to @fermix/data: `import { OpenSplitOptions } from '@fermix/data'`. */
export type OpenSplitOptions = data.OpenSplitOptions;
/** @deprecated Moved to @fermix/data: `import { isFileListSource } from '@fermix/data'`. */
export const isFileListSource = data.isFileListSource;
/** @deprecated Moved to @fermix/data: `import { FileListSource } from '@fermix/data'`. */
export type FileListSource = data.FileListSource;
/** @deprecated Moved to @fermix/data: `import { SplitFiles } from '@fermix/data'`. */
export type SplitFiles = data.SplitFiles;
