import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { BackboneRegistry } from '@fermix/core';
import { backbonesCommand, checkImagenetLayers, formatBackboneTable, formatImagenetChecks, imagenetCheckPasses, type ImagenetCheck } from '../src/commands/backbones.js';
import { UsageError } from '../src/commands/train.js';

async function run(options: Parameters<typeof backbonesCommand>[0]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await backbonesCommand(options, out);
  return { code, text: Buffer.concat(chunks).toString('utf8') };
}

describe('fermix backbones', () => {
  it('lists every backbone with its parameters with and without the top, as JSON (default 100x100, 7 classes)', async () => {
    const { code, text } = await run({ json: true });
    expect(code).toBe(0);
    const rows = JSON.parse(text) as { name: string; params: number; paramsNoTop: number }[];
    expect(rows.map((r) => r.name)).toEqual(['densenet121', 'efficientnetb0', 'mobilenetv2', 'resnet18', 'resnet50', 'small-cnn', 'vgg16']);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    // Keras include_top=False counts; the top adds a dense layer of channels x 7 + 7.
    expect(byName.resnet50).toEqual({ name: 'resnet50', params: 23_587_712 + 2048 * 7 + 7, paramsNoTop: 23_587_712 });
    expect(byName.vgg16).toEqual({ name: 'vgg16', params: 14_714_688 + 512 * 7 + 7, paramsNoTop: 14_714_688 });
    expect(byName.densenet121).toEqual({ name: 'densenet121', params: 7_037_504 + 1024 * 7 + 7, paramsNoTop: 7_037_504 });
    expect(byName.efficientnetb0).toEqual({ name: 'efficientnetb0', params: 4_049_571 + 1280 * 7 + 7, paramsNoTop: 4_049_571 });
    expect(byName['small-cnn'].params - byName['small-cnn'].paramsNoTop).toBe(128 * 7 + 7);
  });

  it('prints a table, and marks backbones that need a larger input', async () => {
    const { code, text } = await run({ size: '20' });
    expect(code).toBe(0);
    expect(text).toContain('backbones at 20x20:');
    expect(text).toMatch(/small-cnn\s+289,255\s+288,352/);
    expect(text).toMatch(/resnet50\s+-\s+-\s+needs inputs of at least 32x32/);
    const table = formatBackboneTable([{ name: 'x', params: 1234567, paramsNoTop: 1000, description: 'd' }], 100);
    expect(table).toBe('backbones at 100x100:\nbackbone  params (7 classes)  without top  description\nx                  1,234,567        1,000  d\n');
  });

  it('rejects a size that is not a positive integer', async () => {
    await expect(run({ size: 'big' })).rejects.toThrow(UsageError);
    await expect(run({ size: '0' })).rejects.toThrow(/--size: expected a positive integer/);
  });

  it("--weights imagenet --check: every layer of each Keras ImageNet file (the committed lists from Keras' source) loads into fermix's model by name, offline", async () => {
    const { code, text } = await run({ weights: 'imagenet', check: true, json: true });
    const checks = JSON.parse(text) as ImagenetCheck[];
    expect(checks.map((c) => c.backbone)).toEqual(['resnet50', 'vgg16', 'densenet121', 'efficientnetb0', 'mobilenetv2']);
    for (const c of checks) {
      expect({ backbone: c.backbone, onlyInFile: c.onlyInFile, mismatched: c.mismatched, onlyInModel: c.onlyInModel }).toEqual({
        backbone: c.backbone,
        onlyInFile: [],
        mismatched: [],
        onlyInModel: ['predictions'],
      });
      expect(c.loads).toBe(c.layersInFile);
    }
    expect(Object.fromEntries(checks.map((c) => [c.backbone, c.loads]))).toEqual({ resnet50: 106, vgg16: 13, densenet121: 241, efficientnetb0: 131, mobilenetv2: 104 });
    expect(code).toBe(0);
  });

  it('--check lists what differs both ways and fails (a vgg16 with a renamed layer and another width)', async () => {
    const registry = new BackboneRegistry().register({
      name: 'vgg16',
      description: 'not quite VGG16',
      minInputSize: 8,
      build(input) {
        const x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', name: 'block1_conv1' }).apply(input) as tfl.SymbolicTensor;
        return tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', name: 'block1_conv_two' }).apply(x) as tfl.SymbolicTensor;
      },
    });
    const [check] = await checkImagenetLayers(registry);
    expect(check.backbone).toBe('vgg16');
    expect(check.loads).toBe(0);
    expect(check.onlyInFile).toEqual(['block1_conv2', 'block2_conv1', 'block2_conv2', 'block3_conv1', 'block3_conv2', 'block3_conv3', 'block4_conv1', 'block4_conv2', 'block4_conv3', 'block5_conv1', 'block5_conv2', 'block5_conv3']);
    expect(check.onlyInModel).toEqual(['block1_conv_two', 'predictions']);
    expect(check.mismatched).toEqual(["shape mismatch in layer 'block1_conv1', weight 'kernel': the model has [3,3,3,32], the file has [3,3,3,64] (saved as 'block1_conv1/kernel')"]);
    expect(imagenetCheckPasses(check)).toBe(false);
    const text = formatImagenetChecks([check]);
    expect(text).toContain('0 of the file\'s 13 layers with weights load by name  <- MISMATCH');
    expect(text).toContain('in fermix, not in the Keras file: block1_conv_two, predictions (fermix\'s classifier head)');
  });

  it('--check goes with --weights imagenet', async () => {
    await expect(run({ check: true })).rejects.toThrow(/--weights imagenet and --check go together/);
    await expect(run({ weights: 'imagenet' })).rejects.toThrow(UsageError);
  });
});
