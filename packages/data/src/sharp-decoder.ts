/**
 * sharp (libvips) as the native JPEG decoder, when it is installed: it is an optionalDependency
 * of @fermix/core, so everything works without it (pure-JavaScript decoding). Which files go to it
 * is decided in decode.ts (`usesNativeDecoder`), with the measurements behind the rule.
 *
 * `createSharpDecode` is self-contained like `createImageCodec` (it uses only its parameter and
 * globals), so decode-pool.ts embeds it into its worker program with `toString()`.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { DecodedImage, NativeDecode } from './decode.js';

/** The part of sharp's API used here. */
export interface SharpModule {
  (input: Buffer, options?: { failOn?: string; limitInputPixels?: number | boolean; sequentialRead?: boolean }): {
    toColourspace(space: string): { raw(): { toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }> } };
  };
  cache(options: boolean): void;
}

/** Bytes → 8-bit RGB pixels with sharp. Gray and CMYK JPEGs come out as sRGB too, as with jpeg-js. */
export function createSharpDecode(sharp: SharpModule): NativeDecode {
  // sharp caches operations (and their pixels) by default; a decode-once pipeline only pays for it.
  sharp.cache(false);
  return async function decodeWithSharp(bytes: Uint8Array, maxPixels: number): Promise<DecodedImage> {
    const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // failOn 'warning': a truncated JPEG is an error, as with jpeg-js, not a grey-padded image.
    // The codec has checked the header against maxPixels before this call; sharp checks it again.
    const { data, info } = await sharp(input, { failOn: 'warning', limitInputPixels: maxPixels, sequentialRead: true })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`sharp returned ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
}

/** Where this module lives (ESM: import.meta.url; the CJS bundle: __filename). */
function moduleLocation(): string {
  return import.meta.url ?? pathToFileURL(__filename).href;
}

let loading: Promise<{ decode: NativeDecode; path: string } | null> | undefined;

/**
 * sharp's decoder and the path it resolves from, or null when sharp is not installed or fails to
 * load (a platform without its prebuilt binary). Loaded once per process, on the main thread: sharp
 * must be loaded there before worker threads load it.
 */
export function loadSharp(): Promise<{ decode: NativeDecode; path: string } | null> {
  loading ??= (async () => {
    try {
      const path = createRequire(moduleLocation()).resolve('sharp');
      const mod = (await import(pathToFileURL(path).href)) as { default?: SharpModule } & SharpModule;
      return { decode: createSharpDecode(mod.default ?? mod), path };
    } catch {
      return null;
    }
  })();
  return loading;
}
