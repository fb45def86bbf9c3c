/**
 * EfficientNetB0 as `keras.applications.EfficientNetB0` (efficientnet.py: EfficientNet, block):
 * MBConv blocks with squeeze-and-excitation and stochastic depth, swish activations, names
 * `stem_conv`, `block1a_dwconv`, `block2a_expand_conv`, ..., `top_conv`, `top_bn`, `top_activation`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z, type BackboneDefinition } from '@fermix/core';
import { apply, backboneOptions, correctPad, exposeBlock, type Tensor } from './common.js';
import { ChannelAffine, IMAGENET_MEAN_RGB, IMAGENET_STDDEV_RGB, Normalization } from './layers.js';

interface BlockArgs {
  kernelSize: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  idSkip: boolean;
  strides: number;
  seRatio: number;
}

/** Keras' DEFAULT_BLOCKS_ARGS: the seven stages of EfficientNet-B0. */
const DEFAULT_BLOCKS_ARGS: BlockArgs[] = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
];

/** Keras' CONV_KERNEL_INITIALIZER (fermix's trainer re-draws kernels from the run's seed anyway). */
const convInitializer = () => tfl.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal' });

type Activation = 'swish';

/** B0's coefficients: width 1.0, depth 1.0, depth divisor 8. */
const WIDTH = 1.0;
const DEPTH = 1.0;
const DIVISOR = 8;

function roundFilters(filters: number): number {
  const scaled = filters * WIDTH;
  let rounded = Math.max(DIVISOR, Math.floor((scaled + DIVISOR / 2) / DIVISOR) * DIVISOR);
  if (rounded < 0.9 * scaled) rounded += DIVISOR;
  return rounded;
}

function roundRepeats(repeats: number): number {
  return Math.ceil(DEPTH * repeats);
}

function conv1x1(x: Tensor, filters: number, name: string, activation?: 'swish' | 'sigmoid', useBias = false): Tensor {
  return apply(
    tfl.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias, activation, kernelInitializer: convInitializer(), name }),
    x,
  );
}

function bn(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.batchNormalization({ axis: -1, name }), x);
}

function act(x: Tensor, activation: Activation, name: string): Tensor {
  return apply(tfl.layers.activation({ activation, name }), x);
}

/** Keras' `block`: an inverted residual block (expand, depthwise, squeeze-excite, project). */
function mbConvBlock(inputs: Tensor, activation: Activation, dropRate: number, name: string, args: Omit<BlockArgs, 'repeats'>): Tensor {
  const { filtersIn, filtersOut, kernelSize, strides, expandRatio, seRatio, idSkip } = args;
  // Expansion phase
  const filters = filtersIn * expandRatio;
  let x = inputs;
  if (expandRatio !== 1) {
    x = conv1x1(x, filters, `${name}expand_conv`);
    x = bn(x, `${name}expand_bn`);
    x = act(x, activation, `${name}expand_activation`);
  }
  // Depthwise convolution
  let padding: 'same' | 'valid' = 'same';
  if (strides === 2) {
    x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x, kernelSize), name: `${name}dwconv_pad` }), x);
    padding = 'valid';
  }
  x = apply(
    tfl.layers.depthwiseConv2d({ kernelSize, strides, padding, useBias: false, depthwiseInitializer: convInitializer(), name: `${name}dwconv` }),
    x,
  );
  x = bn(x, `${name}bn`);
  x = act(x, activation, `${name}activation`);
  // Squeeze and excitation
  if (seRatio > 0 && seRatio <= 1) {
    const filtersSe = Math.max(1, Math.floor(filtersIn * seRatio));
    let se = apply(tfl.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = apply(tfl.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = conv1x1(se, filtersSe, `${name}se_reduce`, activation, true);
    se = conv1x1(se, filters, `${name}se_expand`, 'sigmoid', true);
    x = apply(tfl.layers.multiply({ name: `${name}se_excite` }), [x, se]);
  }
  // Output phase
  x = conv1x1(x, filtersOut, `${name}project_conv`);
  x = bn(x, `${name}project_bn`);
  if (idSkip && strides === 1 && filtersIn === filtersOut) {
    if (dropRate > 0) {
      // Stochastic depth: drop the whole residual branch per sample (noise shape [B, 1, 1, 1]).
      x = apply(tfl.layers.dropout({ rate: dropRate, noiseShape: [null, 1, 1, 1] as unknown as number[], name: `${name}drop` }), x);
    }
    x = apply(tfl.layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

export interface EfficientNetOptions {
  /** Keras' drop_connect_rate: the stochastic-depth rate grows linearly to this over the blocks. */
  dropConnectRate: number;
}

export const efficientNetDefaults: EfficientNetOptions = { dropConnectRate: 0.2 };

const efficientNetOptions = backboneOptions<EfficientNetOptions>(
  z.strictObject({ dropConnectRate: z.number().min(0).lt(1).default(efficientNetDefaults.dropConnectRate) }),
);

/**
 * The stem's input normalisation. Keras: Rescaling(1/255) for [0, 255] input (not needed here:
 * fermix input is [0, 1]), then Normalization whose ImageNet weights hold mean [0.485, 0.456, 0.406]
 * and, by a historical mistake, the standard deviations [0.229, 0.224, 0.225] as variance (so it
 * divides by sqrt(std)), then Rescaling(1/sqrt(std)) to finish dividing by std
 * (tensorflow/tensorflow#49930). The `normalization` layer carries the same weights (7 parameters,
 * counted by Keras) initialised to those values, so converted Keras weights load into it unchanged.
 */
function stemNormalization(x: Tensor): Tensor {
  x = apply(new Normalization({ name: 'normalization', mean: IMAGENET_MEAN_RGB, variance: IMAGENET_STDDEV_RGB }), x);
  const scale = IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s));
  return apply(new ChannelAffine({ name: 'rescaling_1', scale, offset: [0, 0, 0] }), x);
}

/**
 * EfficientNetB0 features: stem normalisation, `stem_conv` (3x3/2), 16 MBConv blocks in seven stages
 * `block1`..`block7` (each a block for `afterBlock`), `top_conv` (1x1, 1280), `top_bn`,
 * `top_activation`. 4,049,571 parameters, as Keras' EfficientNetB0(include_top=False) (including
 * the Normalization layer's 7).
 */
export const efficientnetb0: BackboneDefinition = {
  name: 'efficientnetb0',
  description: 'keras.applications EfficientNetB0 (MBConv + squeeze-excite, stochastic depth, ImageNet normalisation inside; options: dropConnectRate)',
  minInputSize: 32,
  parseOptions: efficientNetOptions.parse,
  build(input, plan) {
    const { dropConnectRate } = efficientNetOptions.read(plan);
    const activation: Activation = 'swish';
    let x = stemNormalization(input);
    x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }), x);
    x = apply(
      tfl.layers.conv2d({ filters: roundFilters(32), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: convInitializer(), name: 'stem_conv' }),
      x,
    );
    x = bn(x, 'stem_bn');
    x = act(x, activation, 'stem_activation');

    const total = DEFAULT_BLOCKS_ARGS.reduce((n, a) => n + roundRepeats(a.repeats), 0);
    let b = 0;
    DEFAULT_BLOCKS_ARGS.forEach((stage, i) => {
      const args = { ...stage, filtersIn: roundFilters(stage.filtersIn), filtersOut: roundFilters(stage.filtersOut) };
      for (let j = 0; j < roundRepeats(stage.repeats); j++) {
        // The first block of a stage strides and widens; the others keep the size.
        const blockArgs = j === 0 ? args : { ...args, strides: 1, filtersIn: args.filtersOut };
        x = mbConvBlock(x, activation, (dropConnectRate * b) / total, `block${i + 1}${String.fromCharCode(97 + j)}_`, blockArgs);
        b++;
      }
      x = exposeBlock(plan, x, i, `block${i + 1}`);
    });

    x = conv1x1(x, roundFilters(1280), 'top_conv');
    x = bn(x, 'top_bn');
    return act(x, activation, 'top_activation');
  },
};

