import { z } from 'zod';
import { MONITORABLE } from '../metrics.js';

const positiveInt = z.number().int().min(1);

/** One entry of `plugins:`: a name, or a one-key map from name to options. */
const pluginEntry = z.union([
  z.string().min(1),
  z.record(z.string().min(1), z.unknown()).refine((v) => Object.keys(v).length === 1, {
    message: 'a map with exactly one key, the plugin name (e.g. `- mixup: { alpha: 0.2 }`)',
  }),
]);

export const configSchema = z.strictObject({
  seed: z.number().int().min(0).default(1),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /**
   * Threads of the wasm backend: `auto` (FERMIX_THREADS when set, as fermix sweep sets it for its
   * runs; else every core) or a count (1: the single-thread build). The CLI's --threads overrides it.
   */
  threads: z.union([z.literal('auto'), positiveInt.max(256)]).default('auto'),
  /**
   * `onnxruntime`: the wasm backend's convolutions run on ONNX Runtime's native CPU kernels
   * (install @fermix/accel-onnxruntime next to fermix). `none`: wasm only.
   */
  accelerator: z.enum(['none', 'onnxruntime']).default('none'),
  data: z
    .strictObject({
      format: z.enum(['imagefolder', 'synthetic', 'rafdb', 'fer2013-csv', 'affectnet']).default('imagefolder'),
      /**
       * Relative to the config file. imagefolder: the folder holding <split>/<class>/*; rafdb: the
       * folder holding EmoLabel/ and Image/aligned/; fer2013-csv: the CSV file; affectnet: the folder
       * holding training.csv, validation.csv and Manually_Annotated_Images/.
       */
      root: z.string().min(1).optional(),
      /** Default 48, or data.align.size when aligning (which it must then equal). */
      imageSize: z.number().int().min(8).max(1024).optional(),
      trainSplit: z.string().min(1).default('train'),
      testSplit: z.string().min(1).default('test'),
      /** synthetic: images per class in each split. */
      trainPerClass: positiveInt.default(200),
      testPerClass: positiveInt.default(50),
      /** rafdb, affectnet: images listed but not on disk are an error, or skipped with a warning. */
      onMissing: z.enum(['error', 'skip']).default('error'),
      /** affectnet: 7 canonical classes (contempt dropped), or 8 with contempt last. */
      affectnetClasses: z.literal([7, 8]).default(7),
      /**
       * MB of decoded images kept in memory (count x imageSize² x 3 bytes, train first, then test);
       * a split over what is left is streamed from disk. 0 streams every split that can be.
       */
      cacheMB: z.number().int().min(0).default(2048),
      /** Streaming: batches decoded ahead of the training step (memory: prefetch x batch x imageSize² x 3 bytes). */
      prefetch: z.number().int().min(1).max(64).default(4),
      /**
       * Align whole images by five landmarks to a frontal template: rafdb's originals (Image/original)
       * by RAF-DB's Annotation/manual (`dataset`), affectnet's images by the CSV's facial_landmarks
       * (`dataset`), or any of these and image folders by a face-landmark model (`model`, @fermix/landmarks).
       */
      align: z
        .strictObject({
          landmarks: z.enum(['dataset', 'model']),
          size: z.literal([100, 112]),
        })
        .optional(),
    })
    .superRefine((data, ctx) => {
      if (data.align && !['rafdb', 'affectnet', 'imagefolder'].includes(data.format)) {
        ctx.addIssue({
          code: 'custom',
          path: ['align'],
          message: `no align for format ${data.format} (alignment reads whole images: formats rafdb (Image/original), affectnet and imagefolder)`,
        });
      }
      if (data.align && data.format === 'imagefolder' && data.align.landmarks !== 'model') {
        ctx.addIssue({
          code: 'custom',
          path: ['align', 'landmarks'],
          message: 'model (an image folder has no landmark annotation: its faces are found by @fermix/landmarks)',
        });
      }
      if (data.align && data.imageSize !== undefined && data.imageSize !== data.align.size) {
        ctx.addIssue({
          code: 'custom',
          path: ['imageSize'],
          message: `${data.align.size}, the size of the aligned faces (data.align.size); leave imageSize out when aligning`,
        });
      }
      // imagefolder's root is checked (and resolved) by validateConfig.
      const rootOf: Partial<Record<typeof data.format, string>> = {
        rafdb: 'the folder holding EmoLabel/list_patition_label.txt and Image/aligned/',
        'fer2013-csv': 'the FER2013 CSV file',
        affectnet: 'the folder holding training.csv, validation.csv and Manually_Annotated_Images/',
      };
      const needed = rootOf[data.format];
      if (needed && !data.root) ctx.addIssue({ code: 'custom', path: ['root'], message: `${needed} (required for format ${data.format})` });
    })
    .transform(({ imageSize, ...data }) => ({ ...data, imageSize: imageSize ?? data.align?.size ?? 48 }))
    .default({
      format: 'synthetic',
      imageSize: 48,
      trainSplit: 'train',
      testSplit: 'test',
      trainPerClass: 200,
      testPerClass: 50,
      onMissing: 'error',
      affectnetClasses: 7,
      cacheMB: 2048,
      prefetch: 4,
    }),
  model: z
    .strictObject({
      backbone: z.string().min(1).default('small-cnn'),
      options: z.record(z.string(), z.unknown()).default({}),
      /** Pretrained weights: a tfjs layers model.json (or its folder), loaded by layer name. */
      weights: z.string().min(1).optional(),
      /** Layers not to take from `weights`, e.g. [predictions] when the class count differs. */
      weightsExclude: z.array(z.string().min(1)).default([]),
      /** Train only the classifier for the first N epochs, then everything. */
      freezeBackbone: z.number().int().min(0).default(0),
    })
    .default({ backbone: 'small-cnn', options: {}, weightsExclude: [], freezeBackbone: 0 }),
  train: z
    .strictObject({
      epochs: positiveInt.default(10),
      batchSize: positiveInt.default(32),
      optimizer: z
        .strictObject({ name: z.enum(['adam']).default('adam'), lr: z.number().positive().default(0.001) })
        .default({ name: 'adam', lr: 0.001 }),
      earlyStopping: z
        .union([
          z.literal(false),
          z.strictObject({
            monitor: z.enum(Object.keys(MONITORABLE) as [keyof typeof MONITORABLE]).default('macroF1'),
            patience: z.number().int().min(0).default(5),
          }),
        ])
        .default({ monitor: 'macroF1', patience: 5 }),
      /**
       * Batch-norm statistics are recomputed over this many training batches before each evaluation,
       * so inference-mode metrics are honest on small data; 0 keeps the moving averages.
       */
      bnRecalibrationBatches: z.number().int().min(0).default(16),
      /** Gradient accumulation: compute each batch in micro-batches of this many samples (wasm's 4 GiB heap). */
      microBatch: z.number().int().min(1).optional(),
      /** balanced: each sample's loss weighted n / (k * count of its class), as sklearn's "balanced". */
      classWeights: z.enum(['none', 'balanced']).default('none'),
      /** balanced: each epoch draws every class equally often (rare classes repeat, common ones are subsampled). */
      sampler: z.enum(['shuffle', 'balanced']).default('shuffle'),
    })
    .default({
      epochs: 10,
      batchSize: 32,
      optimizer: { name: 'adam', lr: 0.001 },
      earlyStopping: { monitor: 'macroF1', patience: 5 },
      bnRecalibrationBatches: 16,
      classWeights: 'none',
      sampler: 'shuffle',
    }),
  plugins: z.array(pluginEntry).default([]),
  /** Packages that register more backbones (see the README, "Backbones from another package"). */
  backbonePackages: z.array(z.string().min(1)).default([]),
});

export type FermixConfigInput = z.input<typeof configSchema>;
/** A validated config with every default filled in and paths resolved. */
export type FermixConfig = z.output<typeof configSchema> & {
  /** The file the config came from, if any. */
  configFile?: string;
  /** The folder relative paths were resolved against. */
  baseDir: string;
};
