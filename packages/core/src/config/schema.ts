import { z } from 'zod';
import { MONITORABLE } from '../metrics.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../train/optimizers.js';
import { SCHEDULE_NAMES, type ScheduleName } from '../train/schedules.js';

const positiveInt = z.number().int().min(1);
/** A file or folder path: longer ones are a mistake (Linux's PATH_MAX is 4096). */
const pathString = z.string().min(1).max(4096);
/** A name: a split, a backbone, a package. */
const nameString = z.string().min(1).max(214);
/** The largest `data.maxPixels`: 1 GB as RGBA, about what one decode may take. */
const MAX_PIXELS_LIMIT = 250_000_000;
/**
 * `data.maxPixels` by default: a face crop never needs more, and a 40 MP RGBA image is already
 * 160 MB once decoded.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** The keys each optimizer takes besides name, lr, weightDecay and noDecayForNormAndBias. */
export const OPTIMIZER_KEYS: Record<OptimizerName, string[]> = {
  sgd: ['momentum', 'nesterov'],
  adam: ['betas', 'eps'],
  adamw: ['betas', 'eps'],
  rmsprop: ['momentum', 'alpha', 'eps'],
};
export const COMMON_OPTIMIZER_KEYS = ['name', 'lr', 'weightDecay', 'noDecayForNormAndBias'];

/** `train.optimizer`: PyTorch's optimizers and their options, under PyTorch's meanings. */
const optimizerSchema = z
  .strictObject({
    name: z.enum(OPTIMIZER_NAMES as [OptimizerName, ...OptimizerName[]]).default('adam'),
    /** The base learning rate (onecycle: the peak). */
    lr: z.number().positive().default(0.001),
    /** sgd, rmsprop. */
    momentum: z.number().min(0).lt(1).optional(),
    /** sgd: Nesterov momentum (needs momentum > 0). */
    nesterov: z.boolean().optional(),
    /** adam, adamw: [beta1, beta2]. */
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).optional(),
    /** adam, adamw, rmsprop. Default 1e-8. */
    eps: z.number().positive().optional(),
    /** rmsprop: smoothing constant. Default 0.99. */
    alpha: z.number().min(0).lt(1).optional(),
    /** Coupled L2 for sgd, adam, rmsprop; decoupled for adamw. Default 0 (adamw: 0.01). */
    weightDecay: z.number().min(0).optional(),
    /** true: biases and batch-norm parameters (every rank-1 weight) take no weight decay (timm's split). */
    noDecayForNormAndBias: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    const allowed = new Set([...COMMON_OPTIMIZER_KEYS, ...OPTIMIZER_KEYS[o.name]]);
    for (const key of Object.keys(o)) {
      if (!allowed.has(key) && (o as Record<string, unknown>)[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `no ${key} for optimizer ${o.name} (it takes ${[...OPTIMIZER_KEYS[o.name], 'weightDecay', 'noDecayForNormAndBias'].join(', ')})` });
      }
    }
    if (o.nesterov && !(o.momentum && o.momentum > 0)) {
      ctx.addIssue({ code: 'custom', path: ['nesterov'], message: 'false, or a momentum > 0 with it (Nesterov momentum needs momentum)' });
    }
  });

/** The keys each schedule takes besides name. */
export const SCHEDULE_KEYS: Record<ScheduleName, string[]> = {
  constant: [],
  step: ['milestones', 'gamma'],
  cosine: ['warmupEpochs', 'warmupSteps', 'warmupStartFactor', 'minLr'],
  onecycle: ['pctStart', 'divFactor', 'finalDivFactor'],
  exponential: ['gamma'],
  plateau: ['monitor', 'patience', 'factor', 'threshold', 'cooldown', 'minLr'],
};

/** `train.schedule`: the learning rate of every step. Lengths are in epochs unless the key says steps. */
const scheduleSchema = z
  .strictObject({
    name: z.enum(SCHEDULE_NAMES as [ScheduleName, ...ScheduleName[]]).default('constant'),
    /** step: epochs at which lr is multiplied by gamma, increasing. */
    milestones: z.array(z.number().positive()).min(1).optional(),
    /** step: the factor at each milestone (default 0.1); exponential: the factor per epoch (default 0.95). */
    gamma: z.number().positive().max(1).optional(),
    /** cosine: linear warmup, in epochs (fractions allowed) or in steps (not both). */
    warmupEpochs: z.number().min(0).optional(),
    warmupSteps: z.number().int().min(0).optional(),
    /** cosine: the warmup starts at lr x this (default 0.01). */
    warmupStartFactor: z.number().positive().max(1).optional(),
    /** cosine, plateau: the lowest lr (default 0). */
    minLr: z.number().min(0).optional(),
    /** onecycle: share of the run spent rising to lr (default 0.3). */
    pctStart: z.number().gt(0).lt(1).optional(),
    /** onecycle: starts at lr / divFactor (default 25) and ends at that / finalDivFactor (default 1e4). */
    divFactor: z.number().min(1).optional(),
    finalDivFactor: z.number().min(1).optional(),
    /** plateau: the metric watched after each evaluation (default: train.earlyStopping's monitor, or macroF1). */
    monitor: z.enum(Object.keys(MONITORABLE) as [keyof typeof MONITORABLE]).optional(),
    /** plateau: evaluations without improvement before the cut (default 10). */
    patience: z.number().int().min(0).optional(),
    /** plateau: lr is multiplied by this (default 0.1). */
    factor: z.number().gt(0).lt(1).optional(),
    /** plateau: relative improvement that counts (default 1e-4). */
    threshold: z.number().min(0).optional(),
    /** plateau: evaluations to wait after a cut (default 0). */
    cooldown: z.number().int().min(0).optional(),
  })
  .superRefine((o, ctx) => {
    const allowed = new Set(['name', ...SCHEDULE_KEYS[o.name]]);
    for (const key of Object.keys(o)) {
      if (!allowed.has(key) && (o as Record<string, unknown>)[key] !== undefined) {
        const takes = SCHEDULE_KEYS[o.name];
        ctx.addIssue({ code: 'custom', path: [key], message: `no ${key} for schedule ${o.name} (${takes.length ? `it takes ${takes.join(', ')}` : 'it takes no options'})` });
      }
    }
    if (o.name === 'step') {
      if (!o.milestones) ctx.addIssue({ code: 'custom', path: ['milestones'], message: 'a list of epochs at which lr is multiplied by gamma (required for schedule step)' });
      else if (o.milestones.some((m, i) => i > 0 && m <= o.milestones![i - 1])) ctx.addIssue({ code: 'custom', path: ['milestones'], message: 'increasing epochs' });
    }
    if (o.warmupEpochs !== undefined && o.warmupSteps !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: 'warmupEpochs or warmupSteps, not both' });
    }
  });

/** One entry of `plugins:`: a name, or a one-key map from name to options. */
const pluginEntry = z.union([
  nameString,
  z.record(nameString, z.unknown()).refine((v) => Object.keys(v).length === 1, {
    message: 'a map with exactly one key, the plugin name (e.g. `- mixup: { alpha: 0.2 }`)',
  }),
]);

export const configSchema = z.strictObject({
  seed: z.number().int().min(0).default(1),
  /**
   * `auto`: tfjs-node-gpu, tfjs-node, wasm, cpu, the first that starts. `gpu`: tfjs-node-gpu on a
   * CUDA device, refusing to start without one. `tensorflow`: tfjs-node-gpu or tfjs-node.
   */
  backend: z.enum(['auto', 'gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
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
  /**
   * The data every format shares; the format (`data.format`, resolved through the
   * DataSourceRegistry) validates its own keys (rafdb's onMissing, synthetic's trainPerClass...)
   * with its own schema, once the formats are registered (`validateDataConfig`).
   */
  data: z
    .looseObject({
      /** A registered format: @fermix/data's imagefolder, synthetic, rafdb, fer2013-csv, affectnet, or one from `dataPackages`. */
      format: nameString.default('imagefolder'),
      /** Relative to the config file; what it names depends on the format. */
      root: pathString.optional(),
      /** Default 48, or data.align.size when aligning (which it must then equal). */
      imageSize: z.number().int().min(8).max(1024).optional(),
      trainSplit: nameString.default('train'),
      testSplit: nameString.default('test'),
      /**
       * MB of decoded images kept in memory (count x imageSize² x 3 bytes, train first, then test);
       * a split over what is left is streamed from disk. 0 streams every split that can be.
       */
      cacheMB: z.number().int().min(0).default(2048),
      /**
       * Decompression-bomb guard: an image whose header declares more pixels (width x height) than
       * this is skipped before anything is allocated for it. The default, 40 MP, is a 160 MB RGBA
       * buffer once decoded; a face crop never needs more.
       */
      maxPixels: z.number().int().min(1).max(MAX_PIXELS_LIMIT).default(DEFAULT_MAX_PIXELS),
      /** Streaming: batches decoded ahead of the training step (memory: prefetch x batch x imageSize² x 3 bytes). */
      prefetch: z.number().int().min(1).max(64).default(4),
      /**
       * Align whole images by five landmarks to a frontal template, from the dataset's own landmarks
       * (`dataset`) or a face-landmark model (`model`, @fermix/landmarks); the format says whether it can.
       */
      align: z
        .strictObject({
          landmarks: z.enum(['dataset', 'model']),
          size: z.literal([100, 112]),
        })
        .optional(),
    })
    .superRefine((data, ctx) => {
      if (data.align && data.imageSize !== undefined && data.imageSize !== data.align.size) {
        ctx.addIssue({
          code: 'custom',
          path: ['imageSize'],
          message: `${data.align.size}, the size of the aligned faces (data.align.size); leave imageSize out when aligning`,
        });
      }
    })
    .transform(({ imageSize, ...data }) => ({ ...data, imageSize: imageSize ?? data.align?.size ?? 48 }))
    .default({
      format: 'synthetic',
      imageSize: 48,
      trainSplit: 'train',
      testSplit: 'test',
      cacheMB: 2048,
      maxPixels: DEFAULT_MAX_PIXELS,
      prefetch: 4,
    }),
  model: z
    .strictObject({
      backbone: nameString.default('small-cnn'),
      options: z.record(z.string(), z.unknown()).default({}),
      /**
       * Pretrained weights, loaded by layer name: `imagenet` (keras.applications' ImageNet file for
       * the backbone, downloaded once into ~/.cache/fermix/weights), a Keras .h5 file (Keras 2 or
       * Keras 3 .weights.h5), a tfjs model.json or its folder, or another run's checkpoint folder
       * (runs/x/checkpoints/best; a head of another class count is skipped).
       */
      weights: pathString.optional(),
      /** A mirror of the ImageNet files, `<url>/<file name>` (default: $FERMIX_WEIGHTS_BASE_URL, else Keras' URLs). */
      weightsBaseUrl: z.string().url().max(4096).optional(),
      /** Layers not to take from `weights`, e.g. [predictions] when the class count differs. */
      weightsExclude: z.array(nameString).default([]),
      /** Train only the classifier for the first N epochs, then everything. */
      freezeBackbone: z.number().int().min(0).default(0),
    })
    .default({ backbone: 'small-cnn', options: {}, weightsExclude: [], freezeBackbone: 0 }),
  train: z
    .strictObject({
      epochs: positiveInt.default(10),
      batchSize: positiveInt.default(32),
      optimizer: optimizerSchema.default({ name: 'adam', lr: 0.001, noDecayForNormAndBias: false }),
      schedule: scheduleSchema.default({ name: 'constant' }),
      /** Clip the gradients to this global L2 norm before each update (torch's clip_grad_norm_). */
      clipNorm: z.number().positive().optional(),
      /**
       * An exponential moving average of the weights, updated after every step; evaluation, early
       * stopping and the best checkpoint use it, with batch-norm statistics recalibrated for it.
       */
      ema: z.strictObject({ decay: z.number().gt(0).lt(1) }).optional(),
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
    .superRefine((train, ctx) => {
      const s = train.schedule;
      if (s.warmupEpochs !== undefined && s.warmupEpochs >= train.epochs) {
        ctx.addIssue({ code: 'custom', path: ['schedule', 'warmupEpochs'], message: `fewer warmup epochs than train.epochs (${train.epochs})` });
      }
      if (s.milestones && s.milestones.some((m) => m >= train.epochs)) {
        ctx.addIssue({ code: 'custom', path: ['schedule', 'milestones'], message: `epochs before the end of the run (train.epochs ${train.epochs})` });
      }
    })
    .default({
      epochs: 10,
      batchSize: 32,
      optimizer: { name: 'adam', lr: 0.001, noDecayForNormAndBias: false },
      schedule: { name: 'constant' },
      earlyStopping: { monitor: 'macroF1', patience: 5 },
      bnRecalibrationBatches: 16,
      classWeights: 'none',
      sampler: 'shuffle',
    }),
  eval: z
    .strictObject({
      /** Test-time augmentation: `flip` averages the probabilities of each image and its mirror. */
      tta: z.array(z.enum(['flip'])).default([]),
    })
    .default({ tta: [] }),
  plugins: z.array(pluginEntry).default([]),
  /** Packages that register more backbones (see the README, "Backbones from another package"). */
  backbonePackages: z.array(nameString).default([]),
  /** Packages that register more data formats (see docs/writing-a-data-format.md). */
  dataPackages: z.array(nameString).default([]),
});

/** The `data` keys every format shares; any other key is the format's own, validated by its schema. */
export const DATA_KEYS = ['format', 'root', 'imageSize', 'trainSplit', 'testSplit', 'cacheMB', 'maxPixels', 'prefetch', 'align'] as const;

export type FermixConfigInput = z.input<typeof configSchema>;
/** A validated config with every default filled in and paths resolved. */
export type FermixConfig = z.output<typeof configSchema> & {
  /** The file the config came from, if any. */
  configFile?: string;
  /** The folder relative paths were resolved against. */
  baseDir: string;
};
