/**
 * The input preprocessing layers the pretrained backbones put in front of their first convolution.
 *
 * Every fermix backbone takes RGB images in [0, 1]; Keras' ImageNet weights each expect their own
 * input convention, so the conversion is part of the model (it is saved with it and needs no
 * separate `preprocess_input` call). Both classes are registered with `tf.serialization`, so a saved
 * model.json loads with `tf.loadLayersModel` once this module has been imported.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Shape = tfl.Shape;

/** ImageNet RGB mean and standard deviation in [0, 1] (Keras `imagenet_utils`, torch mode). */
export const IMAGENET_MEAN_RGB = [0.485, 0.456, 0.406];
export const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];
/** Caffe mode: per-channel means of the BGR images in [0, 255]. */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

function singleInput(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function singleShape(shape: Shape | Shape[]): Shape {
  return Array.isArray(shape[0]) ? (shape as Shape[])[0] : (shape as Shape);
}

export interface ChannelAffineArgs extends LayerArgs {
  /** Per-channel factor (one value per channel, or one for all). */
  scale: number[];
  /** Per-channel offset added after scaling. */
  offset: number[];
  /** Reverse the channel order first (RGB -> BGR). */
  reverseChannels?: boolean;
}

/**
 * `y = (reverseChannels ? x[..., ::-1] : x) * scale + offset` per channel. No weights: the constants
 * are part of the config, so it adds no parameters (Keras' `preprocess_input` adds none either).
 */
export class ChannelAffine extends tfl.layers.Layer {
  static className = 'FermixChannelAffine';
  readonly scale: number[];
  readonly offset: number[];
  readonly reverseChannels: boolean;

  constructor(args: ChannelAffineArgs) {
    super(args);
    this.scale = [...args.scale];
    this.offset = [...args.offset];
    this.reverseChannels = args.reverseChannels ?? false;
    this.trainable = false;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x = singleInput(inputs);
      if (this.reverseChannels) x = tf.reverse(x, -1);
      return tf.add(tf.mul(x, tf.tensor1d(this.scale)), tf.tensor1d(this.offset));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset, reverseChannels: this.reverseChannels };
  }
}
tf.serialization.registerClass(ChannelAffine);

export type ImagenetPreprocessingMode = 'caffe' | 'torch' | 'tf';

/**
 * The layer that turns [0, 1] RGB images into what Keras' `preprocess_input` of that mode gives for
 * [0, 255] images:
 * - `caffe` (ResNet50, VGG16): RGB -> BGR, x255, minus the BGR ImageNet mean.
 * - `torch` (DenseNet121): minus the RGB mean, divided by the RGB standard deviation.
 * - `tf` (MobileNetV2): scaled to [-1, 1].
 */
export function imagenetPreprocessing(mode: ImagenetPreprocessingMode, name = 'preprocessing'): ChannelAffine {
  switch (mode) {
    case 'caffe':
      return new ChannelAffine({ name, scale: [255, 255, 255], offset: CAFFE_MEAN_BGR.map((m) => -m), reverseChannels: true });
    case 'torch':
      return new ChannelAffine({
        name,
        scale: IMAGENET_STDDEV_RGB.map((s) => 1 / s),
        offset: IMAGENET_MEAN_RGB.map((m, i) => -m / IMAGENET_STDDEV_RGB[i]),
      });
    case 'tf':
      return new ChannelAffine({ name, scale: [2, 2, 2], offset: [-1, -1, -1] });
  }
}

export interface NormalizationArgs extends LayerArgs {
  /** Initial per-channel mean and variance (Keras sets them with `adapt` or loads them from weights). */
  mean: number[];
  variance: number[];
}

/**
 * Keras' `Normalization(axis=-1)` on the last axis: `(x - mean) / max(sqrt(variance), 1e-7)`, with
 * the same three non-trainable weights `mean` [C], `variance` [C] and `count` [] (int32, as
 * tensorflowjs_converter stores Keras' int64), so Keras weights load into it by name and it counts
 * 2C + 1 parameters as in Keras.
 */
export class Normalization extends tfl.layers.Layer {
  static className = 'FermixNormalization';
  readonly initialMean: number[];
  readonly initialVariance: number[];
  private mean!: tfl.LayerVariable;
  private variance!: tfl.LayerVariable;

  constructor(args: NormalizationArgs) {
    super(args);
    if (args.mean.length !== args.variance.length) throw new Error(`Normalization ${this.name}: mean and variance need the same length`);
    this.initialMean = [...args.mean];
    this.initialVariance = [...args.variance];
    this.trainable = false;
  }

  build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const channels = shape[shape.length - 1];
    if (channels !== this.initialMean.length) {
      throw new Error(`Normalization ${this.name}: expected ${this.initialMean.length} input channels, got ${channels}`);
    }
    const zeros = tfl.initializers.zeros();
    this.mean = this.addWeight('mean', [channels], 'float32', zeros, undefined, false);
    this.variance = this.addWeight('variance', [channels], 'float32', zeros, undefined, false);
    this.addWeight('count', [], 'int32', zeros, undefined, false);
    tf.tidy(() => {
      this.mean.write(tf.tensor1d(this.initialMean));
      this.variance.write(tf.tensor1d(this.initialVariance));
    });
    this.built = true;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return singleShape(inputShape);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs);
      return tf.div(tf.sub(x, this.mean.read()), tf.maximum(tf.sqrt(this.variance.read()), 1e-7));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mean: this.initialMean, variance: this.initialVariance };
  }
}
tf.serialization.registerClass(Normalization);
