import color from '@fermix/plugin-color';
import crop from '@fermix/plugin-crop';
import cutmix, { mixupCutmix } from '@fermix/plugin-cutmix';
import dropout from '@fermix/plugin-dropout';
import erasing from '@fermix/plugin-erasing';
import flip from '@fermix/plugin-flip';
import labelSmoothing from '@fermix/plugin-label-smoothing';
import mixaugment from '@fermix/plugin-mixaugment';
import mixup from '@fermix/plugin-mixup';
import randaugment from '@fermix/plugin-randaugment';
import type { PluginFactory, PluginRegistry } from '@fermix/core';

/** The plugins that come with the fermix command, by their short names. */
export const builtinPlugins: Record<string, PluginFactory> = {
  mixup,
  mixaugment,
  flip,
  dropout,
  cutmix,
  'mixup-cutmix': mixupCutmix,
  crop,
  color,
  erasing,
  randaugment,
  'label-smoothing': labelSmoothing,
};

/** Registers them, so `- mixup: {...}` works wherever the config file sits. */
export function registerBuiltinPlugins(registry: PluginRegistry): PluginRegistry {
  for (const [name, factory] of Object.entries(builtinPlugins)) registry.register(name, factory);
  return registry;
}
