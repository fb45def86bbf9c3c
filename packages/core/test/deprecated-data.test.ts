/**
 * The names that moved to @fermix/data (issue 17) stay importable from the @fermix/core root for one
 * minor version, deprecated: every name the changeset lists is there (values and types), calls give
 * @fermix/data's results, `DecodePool` is the real class behind a proxy, the constants are equal
 * copies, and each name warns once. Runs on the sources, where this file's import of @fermix/data
 * hands its module to core (provideDataModule); deprecated-data-dist.test.ts checks the built
 * packages in plain Node, without that import.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@fermix/core';
import type * as CoreTypes from '@fermix/core';
import * as data from '@fermix/data';
import type * as DataTypes from '@fermix/data';
import { afterAll, describe, expect, expectTypeOf, it, vi } from 'vitest';

const CHANGESET = fileURLToPath(new URL('../../../.changeset/data-formats-package.md', import.meta.url));

/** The names the changeset says moved (its "Where the exports went" paragraph). */
export function movedNames(): string[] {
  const text = readFileSync(CHANGESET, 'utf8');
  const paragraph = text.split('**Where the exports went.**')[1].split('\n\n')[0];
  return [...paragraph.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]);
}

/** The moved names that are values (functions, the class, constants). */
const MOVED_VALUES = [
  'createImageFolderSource', 'decodeImage', 'toRgbResized', 'decodeFiles', 'createSyntheticSource', 'renderSyntheticFace',
  'createRafdbSource', 'parseRafdbLabels', 'rafdbImagePath', 'RAFDB_LABEL_FILE', 'createFer2013CsvSource', 'createAffectNetSource',
  'cropImage', 'canonicalExpression', 'canonicalFolderClasses', 'canonicalOrder', 'labelIndexTable', 'hasInventory', 'CONTEMPT',
  'EXPRESSION_CLASSES_WITH_CONTEMPT', 'RAFDB_BASIC_LABELS', 'FER2013_LABELS', 'AFFECTNET_LABELS', 'alignFace', 'fivePointsFrom68',
  'alignmentTemplate', 'applyTransform', 'invertTransform', 'similarityTransform', 'transformMatrix', 'transformResidual',
  'transformScaleRotation', 'warpSimilarity', 'ALIGN_SIZES', 'ARCFACE_TEMPLATE_112', 'FIVE_POINT_NAMES', 'alignImageFile',
  'isAlignable', 'toRgbImage', 'parseRafdbLandmarks', 'rafdbAnnotationPath', 'rafdbOriginalPath', 'RAFDB_ANNOTATION_DIR',
  'RAFDB_ORIGINAL_DIR', 'DecodePool', 'codecWith', 'loadSharp', 'streamedSplit', 'defaultStreamWorkers', 'openSplit', 'isFileListSource',
] as const;
const CONSTANTS = ['RAFDB_LABEL_FILE', 'CONTEMPT', 'EXPRESSION_CLASSES_WITH_CONTEMPT', 'RAFDB_BASIC_LABELS', 'FER2013_LABELS', 'AFFECTNET_LABELS', 'ALIGN_SIZES', 'ARCFACE_TEMPLATE_112', 'FIVE_POINT_NAMES', 'RAFDB_ANNOTATION_DIR', 'RAFDB_ORIGINAL_DIR'] as const;

/** Type-checked by `pnpm typecheck`; the names checked here are matched against the changeset below. */
export function typesAreData(): void {
  expectTypeOf<typeof core.createImageFolderSource>().toEqualTypeOf<typeof data.createImageFolderSource>();
  expectTypeOf<typeof core.decodeImage>().toEqualTypeOf<typeof data.decodeImage>();
  expectTypeOf<typeof core.toRgbResized>().toEqualTypeOf<typeof data.toRgbResized>();
  expectTypeOf<typeof core.decodeFiles>().toEqualTypeOf<typeof data.decodeFiles>();
  expectTypeOf<typeof core.createSyntheticSource>().toEqualTypeOf<typeof data.createSyntheticSource>();
  expectTypeOf<typeof core.renderSyntheticFace>().toEqualTypeOf<typeof data.renderSyntheticFace>();
  expectTypeOf<typeof core.createRafdbSource>().toEqualTypeOf<typeof data.createRafdbSource>();
  expectTypeOf<typeof core.parseRafdbLabels>().toEqualTypeOf<typeof data.parseRafdbLabels>();
  expectTypeOf<typeof core.rafdbImagePath>().toEqualTypeOf<typeof data.rafdbImagePath>();
  expectTypeOf<typeof core.RAFDB_LABEL_FILE>().toEqualTypeOf<typeof data.RAFDB_LABEL_FILE>();
  expectTypeOf<typeof core.createFer2013CsvSource>().toEqualTypeOf<typeof data.createFer2013CsvSource>();
  expectTypeOf<typeof core.createAffectNetSource>().toEqualTypeOf<typeof data.createAffectNetSource>();
  expectTypeOf<typeof core.cropImage>().toEqualTypeOf<typeof data.cropImage>();
  expectTypeOf<typeof core.canonicalExpression>().toEqualTypeOf<typeof data.canonicalExpression>();
  expectTypeOf<typeof core.canonicalFolderClasses>().toEqualTypeOf<typeof data.canonicalFolderClasses>();
  expectTypeOf<typeof core.canonicalOrder>().toEqualTypeOf<typeof data.canonicalOrder>();
  expectTypeOf<typeof core.labelIndexTable>().toEqualTypeOf<typeof data.labelIndexTable>();
  expectTypeOf<typeof core.hasInventory>().toEqualTypeOf<typeof data.hasInventory>();
  expectTypeOf<typeof core.CONTEMPT>().toEqualTypeOf<typeof data.CONTEMPT>();
  expectTypeOf<typeof core.EXPRESSION_CLASSES_WITH_CONTEMPT>().toEqualTypeOf<typeof data.EXPRESSION_CLASSES_WITH_CONTEMPT>();
  expectTypeOf<typeof core.RAFDB_BASIC_LABELS>().toEqualTypeOf<typeof data.RAFDB_BASIC_LABELS>();
  expectTypeOf<typeof core.FER2013_LABELS>().toEqualTypeOf<typeof data.FER2013_LABELS>();
  expectTypeOf<typeof core.AFFECTNET_LABELS>().toEqualTypeOf<typeof data.AFFECTNET_LABELS>();
  expectTypeOf<typeof core.alignFace>().toEqualTypeOf<typeof data.alignFace>();
  expectTypeOf<typeof core.fivePointsFrom68>().toEqualTypeOf<typeof data.fivePointsFrom68>();
  expectTypeOf<typeof core.alignmentTemplate>().toEqualTypeOf<typeof data.alignmentTemplate>();
  expectTypeOf<typeof core.applyTransform>().toEqualTypeOf<typeof data.applyTransform>();
  expectTypeOf<typeof core.invertTransform>().toEqualTypeOf<typeof data.invertTransform>();
  expectTypeOf<typeof core.similarityTransform>().toEqualTypeOf<typeof data.similarityTransform>();
  expectTypeOf<typeof core.transformMatrix>().toEqualTypeOf<typeof data.transformMatrix>();
  expectTypeOf<typeof core.transformResidual>().toEqualTypeOf<typeof data.transformResidual>();
  expectTypeOf<typeof core.transformScaleRotation>().toEqualTypeOf<typeof data.transformScaleRotation>();
  expectTypeOf<typeof core.warpSimilarity>().toEqualTypeOf<typeof data.warpSimilarity>();
  expectTypeOf<typeof core.ALIGN_SIZES>().toEqualTypeOf<typeof data.ALIGN_SIZES>();
  expectTypeOf<typeof core.ARCFACE_TEMPLATE_112>().toEqualTypeOf<typeof data.ARCFACE_TEMPLATE_112>();
  expectTypeOf<typeof core.FIVE_POINT_NAMES>().toEqualTypeOf<typeof data.FIVE_POINT_NAMES>();
  expectTypeOf<typeof core.alignImageFile>().toEqualTypeOf<typeof data.alignImageFile>();
  expectTypeOf<typeof core.isAlignable>().toEqualTypeOf<typeof data.isAlignable>();
  expectTypeOf<typeof core.toRgbImage>().toEqualTypeOf<typeof data.toRgbImage>();
  expectTypeOf<typeof core.parseRafdbLandmarks>().toEqualTypeOf<typeof data.parseRafdbLandmarks>();
  expectTypeOf<typeof core.rafdbAnnotationPath>().toEqualTypeOf<typeof data.rafdbAnnotationPath>();
  expectTypeOf<typeof core.rafdbOriginalPath>().toEqualTypeOf<typeof data.rafdbOriginalPath>();
  expectTypeOf<typeof core.RAFDB_ANNOTATION_DIR>().toEqualTypeOf<typeof data.RAFDB_ANNOTATION_DIR>();
  expectTypeOf<typeof core.RAFDB_ORIGINAL_DIR>().toEqualTypeOf<typeof data.RAFDB_ORIGINAL_DIR>();
  expectTypeOf<typeof core.DecodePool>().toEqualTypeOf<typeof data.DecodePool>();
  expectTypeOf<typeof core.codecWith>().toEqualTypeOf<typeof data.codecWith>();
  expectTypeOf<typeof core.loadSharp>().toEqualTypeOf<typeof data.loadSharp>();
  expectTypeOf<typeof core.streamedSplit>().toEqualTypeOf<typeof data.streamedSplit>();
  expectTypeOf<typeof core.defaultStreamWorkers>().toEqualTypeOf<typeof data.defaultStreamWorkers>();
  expectTypeOf<typeof core.openSplit>().toEqualTypeOf<typeof data.openSplit>();
  expectTypeOf<typeof core.isFileListSource>().toEqualTypeOf<typeof data.isFileListSource>();
    expectTypeOf<CoreTypes.ImageFolderOptions>().toEqualTypeOf<DataTypes.ImageFolderOptions>();
    expectTypeOf<CoreTypes.DecodedImage>().toEqualTypeOf<DataTypes.DecodedImage>();
    expectTypeOf<CoreTypes.DecodeFilesOptions>().toEqualTypeOf<DataTypes.DecodeFilesOptions>();
    expectTypeOf<CoreTypes.DecodeResult>().toEqualTypeOf<DataTypes.DecodeResult>();
    expectTypeOf<CoreTypes.SyntheticOptions>().toEqualTypeOf<DataTypes.SyntheticOptions>();
    expectTypeOf<CoreTypes.RafdbOptions>().toEqualTypeOf<DataTypes.RafdbOptions>();
    expectTypeOf<CoreTypes.RafdbEntry>().toEqualTypeOf<DataTypes.RafdbEntry>();
    expectTypeOf<CoreTypes.Fer2013CsvOptions>().toEqualTypeOf<DataTypes.Fer2013CsvOptions>();
    expectTypeOf<CoreTypes.AffectNetOptions>().toEqualTypeOf<DataTypes.AffectNetOptions>();
    expectTypeOf<CoreTypes.FaceBox>().toEqualTypeOf<DataTypes.FaceBox>();
    expectTypeOf<CoreTypes.ExpressionName>().toEqualTypeOf<DataTypes.ExpressionName>();
    expectTypeOf<CoreTypes.InventorySource>().toEqualTypeOf<DataTypes.InventorySource>();
    expectTypeOf<CoreTypes.SplitInventory>().toEqualTypeOf<DataTypes.SplitInventory>();
    expectTypeOf<CoreTypes.OnMissing>().toEqualTypeOf<DataTypes.OnMissing>();
    expectTypeOf<CoreTypes.AlignedFace>().toEqualTypeOf<DataTypes.AlignedFace>();
    expectTypeOf<CoreTypes.AlignSize>().toEqualTypeOf<DataTypes.AlignSize>();
    expectTypeOf<CoreTypes.DetectedFace>().toEqualTypeOf<DataTypes.DetectedFace>();
    expectTypeOf<CoreTypes.FivePoints>().toEqualTypeOf<DataTypes.FivePoints>();
    expectTypeOf<CoreTypes.LandmarkDetector>().toEqualTypeOf<DataTypes.LandmarkDetector>();
    expectTypeOf<CoreTypes.Point2>().toEqualTypeOf<DataTypes.Point2>();
    expectTypeOf<CoreTypes.RgbImage>().toEqualTypeOf<DataTypes.RgbImage>();
    expectTypeOf<CoreTypes.SimilarityTransform>().toEqualTypeOf<DataTypes.SimilarityTransform>();
    expectTypeOf<CoreTypes.WarpBorder>().toEqualTypeOf<DataTypes.WarpBorder>();
    expectTypeOf<CoreTypes.AlignableSource>().toEqualTypeOf<DataTypes.AlignableSource>();
    expectTypeOf<CoreTypes.AlignConfig>().toEqualTypeOf<DataTypes.AlignConfig>();
    expectTypeOf<CoreTypes.AlignFailureKind>().toEqualTypeOf<DataTypes.AlignFailureKind>();
    expectTypeOf<CoreTypes.AlignItem>().toEqualTypeOf<DataTypes.AlignItem>();
    expectTypeOf<CoreTypes.AlignOutcome>().toEqualTypeOf<DataTypes.AlignOutcome>();
    expectTypeOf<CoreTypes.AlignPlan>().toEqualTypeOf<DataTypes.AlignPlan>();
    expectTypeOf<CoreTypes.DecodePoolOptions>().toEqualTypeOf<DataTypes.DecodePoolOptions>();
    expectTypeOf<CoreTypes.DecoderChoice>().toEqualTypeOf<DataTypes.DecoderChoice>();
    expectTypeOf<CoreTypes.DecodeItem>().toEqualTypeOf<DataTypes.DecodeItem>();
    expectTypeOf<CoreTypes.NativeDecode>().toEqualTypeOf<DataTypes.NativeDecode>();
    expectTypeOf<CoreTypes.StreamOptions>().toEqualTypeOf<DataTypes.StreamOptions>();
    expectTypeOf<CoreTypes.OpenSplitOptions>().toEqualTypeOf<DataTypes.OpenSplitOptions>();
    expectTypeOf<CoreTypes.FileListSource>().toEqualTypeOf<DataTypes.FileListSource>();
    expectTypeOf<CoreTypes.SplitFiles>().toEqualTypeOf<DataTypes.SplitFiles>();
    expectTypeOf<CoreTypes.DecodePool>().toEqualTypeOf<DataTypes.DecodePool>();
}

const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
afterAll(() => emitted.mockRestore());
/** The deprecation warnings emitted so far for `name`. */
const warningsFor = (name: string) => emitted.mock.calls.filter(([message, options]) => String(message).startsWith(`${name} from @fermix/core is deprecated`) && (options as { code?: string })?.code === 'FERMIX_DEP_CORE_DATA');

describe('the names that moved to @fermix/data, from the @fermix/core root (deprecated)', () => {
  it('every name the changeset lists is exported: the values at runtime, the types by the compile check above', () => {
    const names = movedNames();
    expect(names.length).toBe(88);
    const values = names.filter((n) => n in data);
    expect([...values].sort()).toEqual([...MOVED_VALUES].sort());
    for (const name of values) {
      expect(name in core, name).toBe(true);
      expect(typeof (core as Record<string, unknown>)[name], name).toBe(typeof (data as Record<string, unknown>)[name]);
    }
    // The types (and the values' types) typesAreData() compares, as this file's text (what tsc checks) has them.
    const ownSource = readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const typeLines = [...ownSource.matchAll(/expectTypeOf<CoreTypes\.(\w+)>\(\)\.toEqualTypeOf<DataTypes\.\1>\(\)/g)].map((m) => m[1]);
    const types = names.filter((n) => !(n in data));
    expect(types.length).toBe(37);
    expect([...typeLines].sort()).toEqual([...types, 'DecodePool'].sort());
    const valueLines = [...ownSource.matchAll(/expectTypeOf<typeof core\.(\w+)>\(\)\.toEqualTypeOf<typeof data\.\1>\(\)/g)].map((m) => m[1]);
    expect([...valueLines].sort()).toEqual([...MOVED_VALUES].sort());
  });

  it('the functions are wrappers (not @fermix/data\'s own objects) that give the same results', async () => {
    expect(core.parseRafdbLabels).not.toBe(data.parseRafdbLabels);
    expect(core.parseRafdbLabels.name).toBe('parseRafdbLabels');
    const labels = 'train_00001.jpg 5\ntest_0002.jpg 1\n';
    expect(core.parseRafdbLabels(labels, 'labels.txt')).toEqual(data.parseRafdbLabels(labels, 'labels.txt'));
    expect(() => core.parseRafdbLabels('train_00001.jpg 9\n', 'labels.txt')).toThrow(core.DataError);

    const src = [
      { x: 10, y: 20 },
      { x: 30, y: 21 },
      { x: 20, y: 35 },
    ];
    const dst = [
      { x: 12, y: 18 },
      { x: 33, y: 22 },
      { x: 21, y: 37 },
    ];
    expect(core.similarityTransform(src, dst)).toEqual(data.similarityTransform(src, dst));
    expect(core.alignmentTemplate(100)).toEqual(data.alignmentTemplate(100));

    const logger = core.silentLogger;
    const viaCore = await core.createSyntheticSource({ seed: 3, trainPerClass: 2, testPerClass: 1 }).load('train', { imageSize: 16, logger });
    const viaData = await data.createSyntheticSource({ seed: 3, trainPerClass: 2, testPerClass: 1 }).load('train', { imageSize: 16, logger });
    expect(viaCore.count).toBe(14);
    expect(viaCore.images).toEqual(viaData.images);
    expect(viaCore.labels).toEqual(viaData.labels);

    // A DataError thrown by a source made through the deprecated name is core's DataError.
    const missing = path.join(tmpdir(), 'fermix-no-such-rafdb');
    await expect(core.createRafdbSource({ root: missing }).splits()).rejects.toBeInstanceOf(core.DataError);
  });

  it('DecodePool through the root: open, decode once, close, instanceof, statics', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fermix-dep-pool-'));
    try {
      const file = path.join(dir, 'red.png');
      writeFileSync(file, core.encodeRgbPng(new Uint8Array(4 * 4 * 3).fill(200), 4, 4));
      expect(typeof core.DecodePool.open).toBe('function');
      expect(core.DecodePool.name).toBe('DecodePool');
      expect('open' in core.DecodePool).toBe(true);
      const pool = await core.DecodePool.open({ workers: 1, decoder: 'js' });
      try {
        expect(pool).toBeInstanceOf(core.DecodePool);
        expect(pool).toBeInstanceOf(data.DecodePool);
        expect(pool.workers).toBe(1);
        const batch = await pool.decode([file], 4);
        expect(batch.failures).toEqual([null]);
        expect(batch.data.length).toBe(4 * 4 * 3);
      } finally {
        await pool.close();
      }
      expect({} instanceof core.DecodePool).toBe(false);
      expect(core.DecodePool.prototype).toBe(data.DecodePool.prototype);
      // `new` reaches the real class (its constructor is private in the types, as in @fermix/data's).
      const Ctor = core.DecodePool as unknown as new (...args: unknown[]) => unknown;
      expect(new Ctor(data.codecWith(undefined), undefined)).toBeInstanceOf(data.DecodePool);
      class Sub extends (core.DecodePool as unknown as new (...args: unknown[]) => object) {}
      expect(new Sub(data.codecWith(undefined), undefined)).toBeInstanceOf(data.DecodePool);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the constants are copies equal to @fermix/data\'s', () => {
    for (const name of CONSTANTS) expect((core as Record<string, unknown>)[name], name).toEqual((data as Record<string, unknown>)[name]);
  });

  it('the first use of each name emits one DeprecationWarning (FERMIX_DEP_CORE_DATA) naming it and @fermix/data', () => {
    expect(warningsFor('canonicalExpression')).toHaveLength(0);
    expect(core.canonicalExpression('Happiness')).toBe('happy');
    expect(core.canonicalExpression('sadness')).toBe('sad');
    core.canonicalExpression('x');
    expect(warningsFor('canonicalExpression')).toHaveLength(1);
    const [message, options] = warningsFor('canonicalExpression')[0];
    expect(message).toContain("import { canonicalExpression } from '@fermix/data'");
    expect(options).toEqual({ type: 'DeprecationWarning', code: 'FERMIX_DEP_CORE_DATA' });

    core.rafdbImagePath('/r', 'train_1.jpg');
    core.rafdbImagePath('/r', 'train_2.jpg');
    expect(warningsFor('rafdbImagePath')).toHaveLength(1);
    // Names used by the tests above warned once each, however often they were called.
    for (const name of ['parseRafdbLabels', 'similarityTransform', 'createSyntheticSource', 'createRafdbSource', 'DecodePool']) expect(warningsFor(name), name).toHaveLength(1);
    // A name not used does not warn.
    expect(warningsFor('warpSimilarity')).toHaveLength(0);
  });
});
