/** The smallest training that still is one: synthetic 16x16 faces, a one-stage small-cnn, batches of 8. */
export function tinyRunConfig(options: { epochs: number; perClass: number; threads?: number; plugins?: string[] }): string {
  return [
    'seed: 2',
    'backend: wasm',
    ...(options.threads ? [`threads: ${options.threads}`] : []),
    'data:',
    '  format: synthetic',
    '  imageSize: 16',
    `  trainPerClass: ${options.perClass}`,
    '  testPerClass: 2',
    'model:',
    '  backbone: small-cnn',
    '  options: { widths: [4], convsPerStage: 1 }',
    'train:',
    `  epochs: ${options.epochs}`,
    '  batchSize: 8',
    '  bnRecalibrationBatches: 2',
    '  earlyStopping: false',
    ...(options.plugins ? ['plugins:', ...options.plugins.map((p) => `  - ${p}`)] : []),
    '',
  ].join('\n');
}
