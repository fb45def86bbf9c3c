import * as tfl from '@tensorflow/tfjs-layers';
import { parseOptions, z, type BackboneDefinition, type ModelPlan } from '@fermix/core';

export interface SmallCnnOptions {
  /** Filters of each stage; each stage halves the resolution. */
  widths: number[];
  /** 3x3 conv + batch norm + ReLU units per stage. */
  convsPerStage: number;
}

export const smallCnnDefaults: SmallCnnOptions = { widths: [32, 64, 128], convsPerStage: 2 };

// The upper bounds only keep a typo (widths: [64000]) from asking for gigabytes of weights.
const optionsSchema = z.strictObject({
  widths: z.array(z.number().int().min(1).max(4096)).min(1).max(8).default(smallCnnDefaults.widths),
  convsPerStage: z.number().int().min(1).max(16).default(smallCnnDefaults.convsPerStage),
});

function readOptions(plan: ModelPlan): SmallCnnOptions {
  return parseOptions(optionsSchema, plan.options);
}

/**
 * A CPU-sized CNN: stages of (3x3 conv, batch norm, ReLU) x convsPerStage, then 2x2 max pooling.
 * About 290k parameters with the defaults; each stage is a block for `afterBlock`.
 */
export const smallCnn: BackboneDefinition = {
  name: 'small-cnn',
  description: 'stages of 3x3 conv + batch norm + ReLU and 2x2 max pooling (options: widths, convsPerStage)',
  minInputSize: 16,
  parseOptions: (raw) => parseOptions(optionsSchema, raw),
  build(input, plan) {
    const { widths, convsPerStage } = readOptions(plan);
    let x = input;
    widths.forEach((filters, stage) => {
      for (let c = 0; c < convsPerStage; c++) {
        const name = `block${stage + 1}_conv${c + 1}`;
        x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name }).apply(x) as tfl.SymbolicTensor;
        x = tfl.layers.batchNormalization({ momentum: 0.9, name: `${name}_bn` }).apply(x) as tfl.SymbolicTensor;
        x = tfl.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(x) as tfl.SymbolicTensor;
      }
      x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${stage + 1}_pool` }).apply(x) as tfl.SymbolicTensor;
      x = plan.afterBlock.reduce((acc, fn) => fn(acc, { index: stage, name: `block${stage + 1}` }), x);
    });
    return x;
  },
};
