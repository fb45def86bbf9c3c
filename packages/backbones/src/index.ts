import type { BackboneRegistry } from '@fermix/core';
import { smallCnn } from './small-cnn.js';

export { smallCnn, smallCnnDefaults, type SmallCnnOptions } from './small-cnn.js';

/** Every backbone of this package. */
export const backbones = [smallCnn];

/** Registers this package's backbones in a registry (the CLI does this for you). */
export function registerBackbones(registry: BackboneRegistry): BackboneRegistry {
  for (const b of backbones) registry.register(b);
  return registry;
}
