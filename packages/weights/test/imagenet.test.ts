import { describe, expect, it } from 'vitest';
import { IMAGENET_BACKBONES, imagenetWeightsFile, kerasCacheDir, kerasLayerList, weightsCacheDir } from '../src/index.js';

describe('keras.applications ImageNet files', () => {
  it("has Keras' notop file, URL and md5 for each backbone (keras/src/applications/*.py)", () => {
    expect(IMAGENET_BACKBONES).toEqual(['resnet50', 'vgg16', 'densenet121', 'efficientnetb0', 'mobilenetv2']);
    expect(imagenetWeightsFile('resnet50')).toEqual({
      file: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
      url: 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
      hash: '4d473c1dd8becc155b73f8504c6f6626',
    });
    expect(imagenetWeightsFile('efficientnetb0').url).toBe('https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5');
    expect(imagenetWeightsFile('densenet121').hash).toBe('30ee3e1110167f948a6b9946edeeb738');
    expect(imagenetWeightsFile('vgg16').hash).toBe('6d6bbae143d832006294945121d1f1fc');
  });

  it("names MobileNetV2's file by alpha and input size as Keras does (224's weights for other sizes; no hash published)", () => {
    expect(imagenetWeightsFile('mobilenetv2')).toMatchObject({ file: 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5', hash: null });
    expect(imagenetWeightsFile('mobilenetv2', { options: { alpha: 0.35 }, imageSize: 96 }).file).toBe('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5');
    expect(imagenetWeightsFile('mobilenetv2', { options: { alpha: 0.5 }, imageSize: 100 }).file).toBe('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5');
    expect(() => imagenetWeightsFile('mobilenetv2', { options: { alpha: 0.6 } })).toThrow(/alpha 0\.35, 0\.5, 0\.75, 1, 1\.3, 1\.4; model\.options\.alpha is 0\.6/);
  });

  it('refuses a backbone Keras publishes no ImageNet weights for', () => {
    expect(() => imagenetWeightsFile('small-cnn')).toThrow("keras.applications publishes ImageNet weights for resnet50, vgg16, densenet121, efficientnetb0, mobilenetv2; not for backbone 'small-cnn'");
  });

  it('keeps the cache in ~/.cache/fermix/weights, or under FERMIX_HOME; looks in Keras\' ~/.keras/models', () => {
    expect(weightsCacheDir({ FERMIX_HOME: '/data/fermix' })).toBe('/data/fermix/weights');
    expect(weightsCacheDir({ HOME: process.env.HOME })).toMatch(/\.cache\/fermix\/weights$/);
    expect(kerasCacheDir({ KERAS_HOME: '/k' })).toBe('/k/models');
  });

  it('has a layer list for every backbone, describing the file it downloads', () => {
    for (const backbone of IMAGENET_BACKBONES) {
      const list = kerasLayerList(backbone)!;
      expect(list.file).toBe(imagenetWeightsFile(backbone).file);
      expect(list.source).toMatch(/^keras-team\/tf-keras@[0-9a-f]{40} tf_keras\/applications\//);
    }
    // ResNet50: 53 convolutions, each with its batch norm.
    expect(kerasLayerList('resnet50')!.layers).toHaveLength(106);
    expect(kerasLayerList('densenet121')!.layers[0]).toEqual({ name: 'conv1/conv', weights: { kernel: [7, 7, 3, 64] } });
  });
});
