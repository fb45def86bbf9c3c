/**
 * The ImageNet files keras.applications downloads for the backbones fermix builds, without the
 * top (`include_top=False`, fermix builds its own head): URLs and hashes as in Keras' source
 * (keras/src/applications/{resnet,vgg16,densenet,efficientnet,mobilenet_v2}.py; the md5 hashes
 * Keras passes to `get_file(file_hash=...)`). Keras has no hash for MobileNetV2's files.
 */

export interface WeightsFileSpec {
  /** The file name, as Keras caches it under ~/.keras/models. */
  file: string;
  /** Where Keras downloads it from. */
  url: string;
  /** md5 (32 hex digits) or sha256 (64), as Keras' `file_hash`; null when Keras publishes none. */
  hash: string | null;
}

const KERAS_BASE = 'https://storage.googleapis.com/tensorflow/keras-applications/';

/** MobileNetV2's width multipliers and input sizes with ImageNet weights (Keras' checks). */
export const MOBILENETV2_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;
export const MOBILENETV2_ROWS = [96, 128, 160, 192, 224] as const;

export interface ImagenetOptions {
  /** The backbone's `model.options` (MobileNetV2's `alpha`). */
  options?: Record<string, unknown>;
  /** The input size: MobileNetV2 has weights trained at 96, 128, 160, 192 and 224 (others take 224's, as Keras does). */
  imageSize?: number;
}

/** Python's `str(float(alpha))`: 1.0 -> "1.0", 0.35 -> "0.35". */
const pythonFloat = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : String(x));

/** A file under Keras' usual base URL (`<folder>/<file>`), with its md5. */
const keras = (folder: string, file: string, hash: string) => (): WeightsFileSpec => ({ file, url: `${KERAS_BASE}${folder}/${file}`, hash });

const FILES: Record<string, (o: ImagenetOptions) => WeightsFileSpec> = {
  resnet50: keras('resnet', 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5', '4d473c1dd8becc155b73f8504c6f6626'),
  vgg16: keras('vgg16', 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5', '6d6bbae143d832006294945121d1f1fc'),
  densenet121: keras('densenet', 'densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5', '30ee3e1110167f948a6b9946edeeb738'),
  // EfficientNet's files sit elsewhere (efficientnet.py's BASE_WEIGHTS_PATH).
  efficientnetb0: () => ({
    file: 'efficientnetb0_notop.h5',
    url: 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5',
    hash: '50bc09e76180e00e4465e1a485ddc09d',
  }),
  mobilenetv2: ({ options = {}, imageSize }) => {
    const alpha = options.alpha === undefined ? 1.0 : Number(options.alpha);
    if (!MOBILENETV2_ALPHAS.includes(alpha as (typeof MOBILENETV2_ALPHAS)[number])) {
      throw new Error(`weights: imagenet: Keras has MobileNetV2 ImageNet weights for alpha ${MOBILENETV2_ALPHAS.join(', ')}; model.options.alpha is ${alpha}`);
    }
    const rows = MOBILENETV2_ROWS.includes(imageSize as (typeof MOBILENETV2_ROWS)[number]) ? imageSize! : 224;
    const file = `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${pythonFloat(alpha)}_${rows}_no_top.h5`;
    return { file, url: `${KERAS_BASE}mobilenet_v2/${file}`, hash: null };
  },
};

/** The backbones with ImageNet weights. */
export const IMAGENET_BACKBONES = Object.keys(FILES);

/** The file Keras downloads for `keras.applications.<backbone>(include_top=False, weights='imagenet')`. */
export function imagenetWeightsFile(backbone: string, options: ImagenetOptions = {}): WeightsFileSpec {
  const spec = FILES[backbone];
  if (!spec) {
    throw new Error(`weights: imagenet: keras.applications publishes ImageNet weights for ${IMAGENET_BACKBONES.join(', ')}; not for backbone '${backbone}' (give a weights file instead)`);
  }
  return spec(options);
}
