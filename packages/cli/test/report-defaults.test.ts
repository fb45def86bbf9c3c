import { parseDropoutOptions } from '@fermix/plugin-dropout';
import { parseFlipOptions } from '@fermix/plugin-flip';
import { parseMixAugmentOptions } from '@fermix/plugin-mixaugment';
import { parseMixupOptions } from '@fermix/plugin-mixup';
import { PLUGIN_DEFAULTS } from '@fermix/report';
import { describe, expect, it } from 'vitest';

describe("@fermix/report's plugin defaults", () => {
  // The report uses them when it runs without the fermix command (which passes the installed
  // plugins' own): an option equal to its default does not make a row of its own.
  it('equal the plugins’ own defaults', () => {
    const parsers: Record<string, () => unknown> = { mixup: parseMixupOptions, mixaugment: parseMixAugmentOptions, flip: parseFlipOptions, dropout: parseDropoutOptions };
    expect(Object.keys(PLUGIN_DEFAULTS.options ?? {}).sort()).toEqual(Object.keys(parsers).sort());
    for (const [name, parse] of Object.entries(parsers)) expect(PLUGIN_DEFAULTS.options?.[name], name).toEqual(parse());
    expect(PLUGIN_DEFAULTS.mixup.alpha).toBe(parseMixupOptions().alpha);
    expect(PLUGIN_DEFAULTS.mixaugment.alpha).toBe(parseMixAugmentOptions().alpha);
    expect(PLUGIN_DEFAULTS.dropout.rate).toBe(parseDropoutOptions().rate);
  });
});
