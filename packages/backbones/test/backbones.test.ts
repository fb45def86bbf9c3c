import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fsIOHandler, OptionsError, selectBackend, silentLogger, type LayerFn } from '@fermix/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbones, CAFFE_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STDDEV_RGB, imagenetPreprocessing, smallCnn } from '../src/index.js';
import { classifier, featureModel, images, registry } from './helpers.js';
import { loadPretrainedWeights } from '@fermix/core';

let root: string;

beforeAll(async () => {
  await selectBackend('cpu', silentLogger);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-backbones-'));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('registry', () => {
  it('registers every backbone by name, small-cnn included', () => {
    expect(registry.names()).toEqual(['densenet121', 'efficientnetb0', 'mobilenetv2', 'resnet18', 'resnet50', 'small-cnn', 'vgg16']);
    expect(backbones).toContain(smallCnn);
  });
});

describe('architectures as keras.applications', () => {
  // keras.applications.X(include_top=False).count_params()
  it.each([
    ['resnet50', 23_587_712],
    ['vgg16', 14_714_688],
    ['densenet121', 7_037_504],
    ['efficientnetb0', 4_049_571],
    ['mobilenetv2', 2_257_984],
  ])('%s has the parameters of Keras without the top: %i', (name, count) => {
    const model = featureModel(name, 100);
    expect(model.countParams()).toBe(count);
    model.dispose();
  });

  it.each([
    ['resnet50', ['conv1_pad', 'conv1_conv', 'conv1_bn', 'conv1_relu', 'pool1_pad', 'pool1_pool', 'conv2_block1_0_conv', 'conv2_block1_1_conv', 'conv2_block1_add', 'conv4_block6_out'], 'conv5_block3_out'],
    ['vgg16', ['block1_conv1', 'block1_conv2', 'block1_pool', 'block3_conv3', 'block5_conv3'], 'block5_pool'],
    ['densenet121', ['conv1/conv', 'conv1/bn', 'conv1/relu', 'pool1', 'conv2_block1_0_bn', 'conv2_block6_concat', 'pool2_conv', 'pool2_pool', 'conv5_block16_2_conv', 'bn'], 'relu'],
    ['efficientnetb0', ['normalization', 'stem_conv_pad', 'stem_conv', 'stem_bn', 'block1a_dwconv', 'block1a_se_excite', 'block2a_expand_conv', 'block2a_dwconv_pad', 'block2b_drop', 'block7a_project_bn', 'top_conv', 'top_bn'], 'top_activation'],
    ['mobilenetv2', ['Conv1', 'bn_Conv1', 'Conv1_relu', 'expanded_conv_depthwise', 'expanded_conv_project_BN', 'block_1_expand', 'block_1_pad', 'block_2_add', 'block_16_project_BN', 'Conv_1', 'Conv_1_bn'], 'out_relu'],
  ])('%s uses the Keras layer names', (name, expected, last) => {
    const model = featureModel(name, 100);
    const names = model.layers.map((l) => l.name);
    for (const n of expected) expect(names).toContain(n);
    expect(names.at(-1)).toBe(last);
    model.dispose();
  });

  it('efficientnetb0 has Keras stochastic depth (9 per-sample dropouts, rate 0.2 * block / 16) and SE blocks', () => {
    const model = featureModel('efficientnetb0', 64);
    const drops = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { name: string; rate: number; getConfig(): { noise_shape?: unknown } }[];
    expect(drops.map((d) => d.name)).toEqual(['block2b_drop', 'block3b_drop', 'block4b_drop', 'block4c_drop', 'block5b_drop', 'block5c_drop', 'block6b_drop', 'block6c_drop', 'block6d_drop']);
    expect(drops[0].rate).toBeCloseTo(0.025, 10);
    expect(drops.at(-1)!.rate).toBeCloseTo(0.175, 10);
    expect(model.layers.filter((l) => l.name.endsWith('se_excite'))).toHaveLength(16);
    model.dispose();
    const none = featureModel('efficientnetb0', 64, { dropConnectRate: 0 });
    expect(none.layers.filter((l) => l.getClassName() === 'Dropout')).toHaveLength(0);
    none.dispose();
  });

  it('builds every backbone as a 7-class classifier at 112x112', () => {
    for (const b of backbones) {
      const model = classifier(b.name, 112);
      expect(model.outputs[0].shape).toEqual([null, 7]);
      expect(model.getLayer('predictions')).toBeDefined();
      model.dispose();
    }
  });

  it('resnet18 has ResNet18 basic blocks and scales with widths; mobilenetv2 scales with alpha', () => {
    const r18 = featureModel('resnet18', 48);
    expect(r18.countParams()).toBe(11_186_112);
    expect(r18.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['conv2_block2_out', 'conv3_block1_0_conv', 'conv5_block2_out']));
    r18.dispose();
    const small = featureModel('resnet18', 48, { widths: [16, 32, 64, 128], blocks: [1, 1, 1, 1] });
    expect(small.countParams()).toBeLessThan(400_000);
    small.dispose();
    // keras.applications.MobileNetV2(alpha=0.35, include_top=False).count_params()
    const m035 = featureModel('mobilenetv2', 48, { alpha: 0.35 });
    expect(m035.countParams()).toBe(410_208);
    m035.dispose();
  });
});

describe('options', () => {
  it('rejects unknown options and invalid values in build, naming model.options.<key>', () => {
    expect(() => featureModel('resnet50', 64, { alpha: 1 })).toThrow('model.options.alpha: expected no such key (unknown option; check the spelling), found 1');
    expect(() => featureModel('mobilenetv2', 64, { alpha: -1 })).toThrow('model.options.alpha: expected a number > 0, found -1');
    expect(() => featureModel('mobilenetv2', 64, { widths: [1] })).toThrow('model.options.widths: expected no such key');
    expect(() => featureModel('resnet18', 64, { widths: [8, 16] })).toThrow(/model\.options\.widths: expected .*4.*, found \[8,16\]/);
    expect(() => featureModel('efficientnetb0', 64, { dropConnectRate: 1.5 })).toThrow('model.options.dropConnectRate: expected a number < 1, found 1.5');
  });

  it('validates options up front through parseOptions (for validateModelConfig), with paths relative to the options', () => {
    for (const b of backbones) expect(b.parseOptions).toBeTypeOf('function');
    expect(registry.get('mobilenetv2').parseOptions!({})).toEqual({ alpha: 1 });
    expect(registry.get('resnet18').parseOptions!({ widths: [8, 16, 32, 64] })).toEqual({ widths: [8, 16, 32, 64], blocks: [2, 2, 2, 2] });
    expect(registry.get('efficientnetb0').parseOptions!({})).toEqual({ dropConnectRate: 0.2 });
    expect(() => registry.get('vgg16').parseOptions!({ x: 1 })).toThrow(/  - x: expected no such key/);
    const error = (() => {
      try {
        registry.get('mobilenetv2').parseOptions!({ alpha: 'big' });
      } catch (e) {
        return e as OptionsError;
      }
    })();
    expect(error).toBeInstanceOf(OptionsError);
    expect(error!.issues).toEqual([{ path: ['alpha'], expected: 'a number', found: 'big' }]);
  });

  it('refuses inputs below the minimum size', () => {
    expect(() => classifier('resnet50', 16)).toThrow(/at least 32x32/);
  });
});

describe('afterBlock', () => {
  it.each([
    ['small-cnn', ['block1', 'block2', 'block3']],
    ['resnet18', ['conv2', 'conv3', 'conv4', 'conv5']],
    ['mobilenetv2', ['stage1', 'stage2', 'stage3', 'stage4', 'stage5', 'stage6', 'stage7']],
    ['resnet50', ['conv2', 'conv3', 'conv4', 'conv5']],
    ['vgg16', ['block1', 'block2', 'block3', 'block4', 'block5']],
    ['densenet121', ['conv2', 'conv3', 'conv4', 'conv5']],
    ['efficientnetb0', ['block1', 'block2', 'block3', 'block4', 'block5', 'block6', 'block7']],
  ])('%s calls afterBlock after each block it exposes, and the layers it adds are in the model', (name, blocks) => {
    const calls: { index: number; name: string }[] = [];
    const probe: LayerFn = (x, info) => {
      calls.push(info);
      return tfl.layers.activation({ activation: 'linear', name: `${info.name}_probe` }).apply(x) as tfl.SymbolicTensor;
    };
    const model = classifier(name, 64, { afterBlock: [probe] });
    expect(calls).toEqual(blocks.map((n, index) => ({ index, name: n })));
    const names = model.layers.map((l) => l.name);
    for (const n of blocks) expect(names).toContain(`${n}_probe`);
    model.dispose();
  });
});

describe('input preprocessing inside the model', () => {
  const pixel = [0.8, 0.3, 0.1];
  const apply = (mode: 'caffe' | 'torch' | 'tf') =>
    tf.tidy(() => Array.from((imagenetPreprocessing(mode).apply(tf.tensor4d(pixel, [1, 1, 1, 3])) as tf.Tensor).dataSync()));

  it('caffe: RGB to BGR, x255, minus the BGR ImageNet mean', () => {
    const expected = [pixel[2] * 255 - CAFFE_MEAN_BGR[0], pixel[1] * 255 - CAFFE_MEAN_BGR[1], pixel[0] * 255 - CAFFE_MEAN_BGR[2]];
    apply('caffe').forEach((v, i) => expect(v).toBeCloseTo(expected[i], 3));
  });

  it('torch: minus the RGB mean, over the RGB standard deviation', () => {
    apply('torch').forEach((v, i) => expect(v).toBeCloseTo((pixel[i] - IMAGENET_MEAN_RGB[i]) / IMAGENET_STDDEV_RGB[i], 5));
  });

  it('tf: scaled to [-1, 1]', () => {
    apply('tf').forEach((v, i) => expect(v).toBeCloseTo(pixel[i] * 2 - 1, 6));
  });

  it("efficientnetb0's normalization + rescaling_1 give (x - mean) / std, as Keras' Rescaling(1/255) + Normalization + Rescaling on [0, 255]", () => {
    const model = featureModel('efficientnetb0', 32);
    const stem = tfl.model({ inputs: model.inputs, outputs: model.getLayer('rescaling_1').output as tfl.SymbolicTensor });
    const x = tf.tensor4d(Array.from({ length: 32 * 32 }, () => pixel).flat(), [1, 32, 32, 3]);
    const out = stem.predict(x) as tf.Tensor;
    const first = Array.from(out.dataSync().slice(0, 3));
    first.forEach((v, i) => expect(v).toBeCloseTo((pixel[i] - IMAGENET_MEAN_RGB[i]) / IMAGENET_STDDEV_RGB[i], 5));
    // mean [3] + variance [3] + count [], as Keras counts them.
    expect(model.getLayer('normalization').countParams()).toBe(7);
    expect(model.getLayer('normalization').weights.map((w) => [w.originalName, w.dtype, w.trainable])).toEqual([
      ['normalization/mean', 'float32', false],
      ['normalization/variance', 'float32', false],
      ['normalization/count', 'int32', false],
    ]);
    tf.dispose([x, out]);
    model.dispose();
  });
});

describe('saving and pretrained weights', () => {
  it('saves with fsIOHandler and loads back with tf.loadLayersModel (custom layers are registered)', async () => {
    const dir = path.join(root, 'serialized');
    const model = classifier('efficientnetb0', 32);
    await model.save(fsIOHandler(dir));
    const loaded = await tfl.loadLayersModel(fsIOHandler(dir));
    const x = images(2, 32);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it.each(['caffe', 'torch', 'tf'] as const)('the %s preprocessing layer keeps its constants through save and load', async (mode) => {
    const dir = path.join(root, `preprocessing-${mode}`);
    const input = tfl.input({ shape: [2, 2, 3] });
    const model = tfl.model({ inputs: input, outputs: imagenetPreprocessing(mode).apply(input) as tfl.SymbolicTensor });
    await model.save(fsIOHandler(dir));
    const loaded = await tfl.loadLayersModel(fsIOHandler(dir));
    expect(loaded.layers[1].getClassName()).toBe('FermixChannelAffine');
    const x = images(1, 2);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
  });

  it.each(['efficientnetb0', 'densenet121', 'mobilenetv2'])('round-trips %s weights by name: a fresh model gives identical outputs', async (name) => {
    const dir = path.join(root, `roundtrip-${name}`);
    const trained = classifier(name, 32);
    // Batch-norm statistics away from their initial values, so the moving averages are checked too.
    tf.tidy(() => {
      trained.apply(images(2, 32, 3), { training: true });
    });
    await trained.save(fsIOHandler(dir));
    const fresh = classifier(name, 32);
    const report = await loadPretrainedWeights(fresh, path.join(dir, 'model.json'));
    const withWeights = fresh.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    expect(report.loaded.sort()).toEqual(withWeights.sort());
    expect(report.skipped).toEqual([]);
    expect(report.missing).toEqual([]);
    const x = images(2, 32, 5);
    const a = trained.predict(x) as tf.Tensor;
    const b = fresh.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    trained.dispose();
    fresh.dispose();
  });

  it('a shape mismatch is an error naming the layer, the weight and both shapes, and nothing is loaded', async () => {
    const dir = path.join(root, 'mismatch');
    const saved = classifier('resnet18', 32, { options: { widths: [8, 16, 32, 64] } });
    await saved.save(fsIOHandler(dir));
    const other = classifier('resnet18', 32, { options: { widths: [16, 16, 32, 64] } });
    const before = other.getWeights().map((w) => Array.from(w.dataSync()));
    await expect(loadPretrainedWeights(other, dir)).rejects.toThrow(
      /shape mismatch in layer 'conv1_conv', weight 'kernel': the model has \[7,7,3,16\], the file has \[7,7,3,8\]/,
    );
    expect(other.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    saved.dispose();
    other.dispose();
  });

  it('reports a layer of the file the model does not have as skipped, and loads the rest', async () => {
    const dir = path.join(root, 'extra-layer');
    const extra: LayerFn = (x) => tfl.layers.dense({ units: 8, name: 'extra_dense' }).apply(x) as tfl.SymbolicTensor;
    const saved = classifier('mobilenetv2', 32, { options: { alpha: 0.35 }, beforeHead: [extra] });
    await saved.save(fsIOHandler(dir));
    const plain = classifier('mobilenetv2', 32, { options: { alpha: 0.35 } });
    // predictions differs in shape ([8,7] vs [1280,7]): leave it out.
    const report = await loadPretrainedWeights(plain, dir, { exclude: ['predictions'] });
    expect(report.skipped).toEqual([
      { layer: 'extra_dense', reason: 'no layer of that name in the model' },
      { layer: 'predictions', reason: 'excluded by options' },
    ]);
    expect(report.missing).toEqual(['predictions']);
    expect(report.loaded).toContain('Conv1');
    saved.dispose();
    plain.dispose();
  });
});
