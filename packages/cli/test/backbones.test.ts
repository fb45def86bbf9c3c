import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { backbonesCommand, formatBackboneTable } from '../src/commands/backbones.js';
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
});
