import * as tf from '@tensorflow/tfjs-core';

import { registerFastGradients } from './gradients.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

/**
 * Loads `@tensorflow/tfjs-backend-wasm`, registers the training kernels it lacks and makes `wasm`
 * the active backend. In Node the package's own bundle locates its `.wasm` binaries, so no
 * `setWasmPaths` is needed. Throws if the backend cannot be loaded or initialized.
 */
export async function initWasmBackend(): Promise<void> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    throw new Error(
      `wasm backend unavailable: cannot load @tensorflow/tfjs-backend-wasm (${(e as Error).message})`,
      { cause: e },
    );
  }
  // After the import: the package registers its own (buggy) MaxPoolGrad, which this replaces.
  registerWasmTrainingKernels();
  registerFastGradients();
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } catch (e) {
    throw new Error(`wasm backend failed to initialize: ${(e as Error).message}`, { cause: e });
  }
  if (!ok || tf.getBackend() !== 'wasm') {
    throw new Error(
      'wasm backend failed to initialize (tf.setBackend("wasm") returned false); see the warnings above',
    );
  }
}
