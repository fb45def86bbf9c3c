/**
 * The layers with weights of each keras.applications ImageNet file fermix can load, with their
 * weights' shapes, as Keras' source builds them (`include_top=False`). Derived by
 * scripts/keras/layer_lists.py from tf-keras' application modules (the Keras 2 code that wrote the
 * files, so the names are the files' own: DenseNet's `conv1/conv`). `fermix backbones --weights
 * imagenet --check` compares them with fermix's models offline.
 */
import densenet121 from './keras-layers/densenet121.json';
import efficientnetb0 from './keras-layers/efficientnetb0.json';
import mobilenetv2 from './keras-layers/mobilenetv2.json';
import resnet50 from './keras-layers/resnet50.json';
import vgg16 from './keras-layers/vgg16.json';

export interface KerasLayerList {
  backbone: string;
  /** The file it describes (MobileNetV2: alpha 1.0 at 224; other alphas scale the channel counts). */
  file: string;
  /** Where it was derived from: repository, commit, module and call. */
  source: string;
  /** In the file's order; `weights` maps each weight's name to its shape. */
  layers: { name: string; weights: Record<string, number[]> }[];
}

// JSON imports type each layer's weights as a union of object shapes; they are maps of shapes.
const LISTS = { resnet50, vgg16, densenet121, efficientnetb0, mobilenetv2 } as unknown as Record<string, KerasLayerList>;

/** The committed layer list of a backbone's ImageNet file, or undefined for a backbone without one. */
export function kerasLayerList(backbone: string): KerasLayerList | undefined {
  return LISTS[backbone];
}
