/**
 * Image decoding (PNG, JPEG) and resizing to the square RGB images fermix trains on.
 *
 * All of the logic lives in one factory, `createImageCodec`, that is *self-contained*: its body uses
 * only its `deps` parameter, its own locals and JavaScript/Node globals (Math, Error, typed arrays,
 * Buffer). That is what lets decode-pool.ts run the very same code in worker threads by sending
 * `createImageCodec.toString()` to an eval'd worker, both from the TypeScript sources under vitest and
 * from the tsup bundles (ESM and CJS) — there is no second copy of the decoder, and no worker file
 * that would have to exist next to whichever build is running. The rules that keep it that way:
 *   - never reference an import or a module-level constant inside the factory (pass it in `deps`);
 *   - no classes or syntax that a compiler would lower into helper calls (target is ES2022/node20).
 * The pool checks the rule at run time too: each worker runs `selfTest()` and must produce the
 * same bytes as the main thread, or decoding falls back to this thread.
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { DEFAULT_MAX_PIXELS } from '@fermix/core';
import { createAlignmentMaths, type AlignmentMaths, type FivePoints, type RgbImage } from './align.js';

/** A decoded image: `channels` interleaved 8-bit samples per pixel, row-major. */
export interface DecodedImage {
  width: number;
  height: number;
  /** 1 = gray, 3 = RGB, 4 = RGBA (gray+alpha PNGs come out as RGBA with R = G = B). */
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

/** A face box in image pixels. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One image to decode: its file and, for datasets with face boxes (AffectNet), the box to cut out before resizing. */
export interface DecodeItem {
  path: string;
  box?: FaceBox;
  /** `data.align`: the whole image warped by these landmarks to the frontal template, then resized. */
  align?: AlignTarget;
}

/** Where a face is and how large its aligned copy is (see align.ts). */
export interface AlignTarget {
  points: FivePoints;
  /** The aligned face's side before the resize to the output size. */
  size: number;
  /** The annotation the points came from, named when they cannot align the face. */
  landmarksFile?: string;
}

/**
 * A native decoder (sharp, see sharp-decoder.ts): bytes to raw pixels. The codec hands it only the
 * files `usesNativeDecoder` picks, so the same file takes the same decoder on every thread.
 */
export type NativeDecode = (bytes: Uint8Array, maxPixels: number) => Promise<DecodedImage>;

/** What the codec needs from outside; injected so the factory stays self-contained. */
export interface ImageCodecDeps {
  PNG: typeof pngjs.PNG;
  jpeg: typeof jpeg;
  readFile: (path: string) => Uint8Array;
  /** Absent: everything is decoded in JavaScript (pngjs, jpeg-js). */
  native?: NativeDecode;
  /** The alignment maths (`createAlignmentMaths()`), for items with `align`. */
  align?: AlignmentMaths;
}

/**
 * Several files decoded and resized into one buffer, so a worker can hand it back as a single
 * transferable: image i occupies bytes [i * size * size * 3, (i + 1) * size * size * 3) and is all
 * zeros if `failures[i]` is a reason instead of null.
 */
export interface DecodedBatch {
  data: Uint8Array;
  failures: (string | null)[];
  /** Items that decoded but whose landmarks could not align them (the rest of the failures are unreadable files). */
  landmarkFailures?: number[];
}

export interface ImageCodec {
  decodeImage(bytes: Uint8Array, path: string, maxPixels: number): DecodedImage;
  toRgbResized(img: DecodedImage, size: number): Uint8Array;
  /** Full-size RGB: gray replicated, alpha composited over black (as toRgbResized does). */
  toRgb(img: DecodedImage): RgbImage;
  /** Cuts a face box out of an image (clipped to it); a box entirely outside is an error. */
  cropImage(img: DecodedImage, box: FaceBox): DecodedImage;
  /** Whether `bytes` go to the native decoder (when there is one): see NATIVE_JPEG_MIN_PIXELS. */
  usesNativeDecoder(bytes: Uint8Array): boolean;
  /**
   * Reads, decodes, crops (items with a box) and resizes each file; failures are reasons, not throws.
   * A file whose header declares more than `maxPixels` pixels is refused before it is decoded.
   */
  decodeBatch(items: (string | DecodeItem)[], size: number, maxPixels: number): Promise<DecodedBatch>;
  /** Decodes and resizes a few generated images; equal bytes prove two codec copies agree. */
  selfTest(): Uint8Array;
}

export function createImageCodec(deps: ImageCodecDeps): ImageCodec {
  // Decompression bombs (a few KB declaring 50,000 x 50,000 pixels) are refused from the header,
  // before any pixel buffer exists: PNG's IHDR and JPEG's start-of-frame give width and height, and
  // every decoder (pngjs, jpeg-js, sharp) also gets the limit as its own second check.
  // jpeg-js counts its own allocations (coefficients + planes, ~10 bytes per pixel): it may take
  // that much for an image at the pixel limit.
  function jpegMaxMemoryMB(maxPixels: number): number {
    return Math.max(1024, Math.ceil((maxPixels * 12) / 1048576));
  }
  // Which decoder, per file. Measured on this project's 2-core VM (node 20, sharp 0.34.5 with
  // libvips 8.17 / mozjpeg, one image at a time, ms per decode to raw pixels):
  //   JPEG q90   48x48: jpeg-js 0.16, sharp 0.37 | 100x100: 0.79 vs 0.45 | 224x224: 3.6 vs 0.77
  //             640x480: 20.4 vs 3.0             | 1280x960: 84.6 vs 9.8
  //   PNG RGB    48x48: pngjs 0.11, sharp 0.31   | 100x100: 0.37 vs 0.54 | 224x224: 1.4 vs 1.1
  //             640x480: 8.1 vs 4.7
  // So JPEGs from 64x64 up (between the 48 and 100 measurements; sharp's fixed cost is ~0.3 ms) go
  // to sharp, 5-9x faster from VGA up; smaller JPEGs and every PNG stay in JavaScript. PNGs gain at
  // most ~2x and only when large, which FER datasets' PNGs are not (FER2013: 48x48), while pngjs'
  // handling of every PNG flavour (16-bit, gray+alpha, palette+tRNS) is what the tests pin down.
  // Only decoding moves to sharp: crop and resize stay the code below (1.7 ms for 640x480 → 100),
  // so a face box and the area-average resize mean the same thing whichever decoder ran; letting
  // sharp resize too (shrink-on-load) measured 2.7 ms vs 3.0 + 1.7 ms, not worth two resize rules.
  // The choice depends only on the file's header, so a split decodes to the same bytes in memory
  // and streamed, on workers and in-process; with and without sharp, JPEG pixels differ by a few
  // levels (mozjpeg's IDCT and chroma upsampling vs jpeg-js'), so runs compare within one install.
  const NATIVE_JPEG_MIN_PIXELS = 64 * 64;

  function messageOf(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  /**
   * A ReferenceError is a bug (or a broken serialized copy of this factory), and an error marked
   * `fatal` a decoder that cannot run (sharp failing to load in a worker): not a bad image. They
   * surface instead of quietly skipping every file, and the pool redoes the work elsewhere.
   */
  function isFatal(err: unknown): boolean {
    return err instanceof ReferenceError || (err instanceof Error && (err as Error & { fatal?: boolean }).fatal === true);
  }

  function startsWith(bytes: Uint8Array, signature: number[], at = 0): boolean {
    if (bytes.length < at + signature.length) return false;
    return signature.every((b, i) => bytes[at + i] === b);
  }

  const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

  /** Names a format we recognise but do not decode, for the error message. */
  function describeUnsupported(bytes: Uint8Array): string {
    const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
    if (ascii(0, 4) === 'GIF8') return 'GIF';
    if (ascii(0, 2) === 'BM') return 'BMP';
    if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
    if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
    if (ascii(4, 12) === 'ftypavif' || ascii(4, 12) === 'ftypheic') return 'AVIF/HEIC';
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return `unknown, starts with ${head}`;
  }

  function checkPixelCount(width: number, height: number, maxPixels: number): void {
    if (!(width > 0 && height > 0)) throw new Error(`invalid image size ${width}x${height}`);
    if (width * height > maxPixels) {
      throw new Error(`image too large (${width}x${height} = ${width * height} pixels exceeds data.maxPixels ${maxPixels})`);
    }
  }

  function asBuffer(bytes: Uint8Array): Buffer {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** pngjs rejects bytes after IEND; some writers append padding there, which is harmless. */
  function trimAfterIend(bytes: Uint8Array): Uint8Array {
    for (let i = bytes.length - 8; i >= 8; i--) {
      if (bytes[i] === 0x49 && bytes[i + 1] === 0x45 && bytes[i + 2] === 0x4e && bytes[i + 3] === 0x44) {
        return bytes.subarray(0, i + 8); // chunk type + 4-byte CRC
      }
    }
    return bytes;
  }

  /** Keeps the first `channels` samples of each RGBA pixel. */
  function fromRgba(rgba: Uint8Array, pixels: number, channels: 1 | 3 | 4): Uint8Array {
    if (channels === 4) return rgba;
    const out = new Uint8Array(pixels * channels);
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < channels; c++) out[p * channels + c] = rgba[p * 4 + c];
    }
    return out;
  }

  function decodePng(bytes: Uint8Array, maxPixels: number): DecodedImage {
    // IHDR must be the first chunk: 8-byte signature, length, "IHDR", width, height.
    if (bytes.length < 33 || !startsWith(bytes, [0x49, 0x48, 0x44, 0x52], 12)) {
      throw new Error('truncated or corrupt PNG (no IHDR header)');
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkPixelCount(view.getUint32(16), view.getUint32(20), maxPixels);
    let png;
    try {
      // pngjs expands every PNG flavour (1-16 bit, gray, palette, tRNS) to 8-bit RGBA; 16-bit
      // samples are scaled with rounding, v * 255 / 65535.
      png = deps.PNG.sync.read(asBuffer(trimAfterIend(bytes)));
    } catch (err) {
      throw new Error(`truncated or corrupt PNG (${messageOf(err)})`);
    }
    // `alpha` is also set by a tRNS chunk, so a palette or gray image with transparency keeps it.
    const channels = png.alpha ? 4 : png.color || png.palette ? 3 : 1;
    const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
    return { width: png.width, height: png.height, channels, data: fromRgba(data, png.width * png.height, channels) };
  }

  function decodeJpeg(bytes: Uint8Array, maxPixels: number): DecodedImage {
    const dims = jpegDimensions(bytes);
    if (dims) checkPixelCount(dims.width, dims.height, maxPixels);
    let img;
    try {
      // jpeg-js turns gray and CMYK (Adobe) JPEGs into RGB as well.
      img = deps.jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: jpegMaxMemoryMB(maxPixels),
      });
    } catch (err) {
      const message = messageOf(err);
      if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) throw new Error(`image too large (${message})`);
      throw new Error(`truncated or corrupt JPEG (${message})`);
    }
    checkPixelCount(img.width, img.height, maxPixels);
    return { width: img.width, height: img.height, channels: 3, data: img.data };
  }

  /** Decodes by content (magic bytes), not by file extension. Throws with a bare reason. */
  function decodeBytes(bytes: Uint8Array, maxPixels: number): DecodedImage {
    if (bytes.length === 0) throw new Error('empty file');
    if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes, maxPixels);
    if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpeg(bytes, maxPixels);
    throw new Error(`unsupported format (${describeUnsupported(bytes)}); expected PNG or JPEG`);
  }

  /** Width and height from a JPEG's start-of-frame marker, or null when there is none to find. */
  function jpegDimensions(bytes: Uint8Array): { width: number; height: number } | null {
    let at = 2;
    while (at + 9 <= bytes.length) {
      if (bytes[at] !== 0xff) return null;
      const marker = bytes[at + 1];
      if (marker === 0xff) {
        at++; // fill byte
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        at += 2; // markers without a length
        continue;
      }
      // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): height then width after the precision byte.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: (bytes[at + 5] << 8) | bytes[at + 6], width: (bytes[at + 7] << 8) | bytes[at + 8] };
      }
      at += 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
    }
    return null;
  }

  function usesNativeDecoder(bytes: Uint8Array): boolean {
    if (!deps.native || !startsWith(bytes, JPEG_SIGNATURE)) return false;
    const dims = jpegDimensions(bytes);
    return dims !== null && dims.width * dims.height >= NATIVE_JPEG_MIN_PIXELS;
  }

  async function decodeNative(bytes: Uint8Array, maxPixels: number): Promise<DecodedImage> {
    const dims = jpegDimensions(bytes);
    if (dims) checkPixelCount(dims.width, dims.height, maxPixels);
    let img;
    try {
      img = await deps.native!(bytes, maxPixels);
    } catch (err) {
      if (isFatal(err)) throw err;
      // libvips keeps an error buffer per thread that earlier failures can leave lines in: the
      // last line is this file's.
      const lines = messageOf(err).split('\n').filter((line) => line.trim() !== '');
      throw new Error(`truncated or corrupt JPEG (${lines[lines.length - 1] ?? 'sharp failed'})`);
    }
    checkPixelCount(img.width, img.height, maxPixels);
    return img;
  }

  function cropImage(img: DecodedImage, box: FaceBox): DecodedImage {
    const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
    const x0 = clamp(Math.round(box.x), img.width);
    const y0 = clamp(Math.round(box.y), img.height);
    const x1 = clamp(Math.round(box.x + box.width), img.width);
    const y1 = clamp(Math.round(box.y + box.height), img.height);
    if (!(x1 > x0 && y1 > y0)) {
      throw new Error(`face box x=${box.x} y=${box.y} ${box.width}x${box.height} lies outside the ${img.width}x${img.height} image`);
    }
    const width = x1 - x0;
    const height = y1 - y0;
    const channels = img.channels;
    const data = new Uint8Array(width * height * channels);
    for (let y = 0; y < height; y++) {
      const from = ((y0 + y) * img.width + x0) * channels;
      data.set(img.data.subarray(from, from + width * channels), y * width * channels);
    }
    return { width, height, channels, data };
  }

  function decodeImage(bytes: Uint8Array, path: string, maxPixels: number): DecodedImage {
    try {
      return decodeBytes(bytes, maxPixels);
    } catch (err) {
      throw new Error(`cannot decode ${path}: ${messageOf(err)}`, { cause: err });
    }
  }

  /**
   * One output axis as a sparse weight matrix (CSR): output j reads input `index[k]` with weight
   * `weight[k]` for k in [start[j], start[j + 1]).
   */
  interface AxisWeights {
    start: Int32Array;
    index: Int32Array;
    weight: Float64Array;
  }

  function axisWeights(inSize: number, outSize: number): AxisWeights {
    const scale = inSize / outSize;
    const start = new Int32Array(outSize + 1);
    const index: number[] = [];
    const weight: number[] = [];
    for (let j = 0; j < outSize; j++) {
      start[j] = index.length;
      if (scale > 1) {
        // Shrinking: area average. Output j covers input span [j*scale, (j+1)*scale); every input
        // pixel counts by how much of it lies inside, so no input detail is skipped (no aliasing).
        const lo = j * scale;
        const hi = lo + scale;
        for (let i = Math.floor(lo); i < Math.min(inSize, Math.ceil(hi)); i++) {
          const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
          if (overlap > 1e-9) {
            index.push(i);
            weight.push(overlap / scale);
          }
        }
      } else {
        // Enlarging (or same size): bilinear with half-pixel centres, as tf.image.resizeBilinear(…,
        // alignCorners=false, halfPixelCenters=true): output centre j + 0.5 sits at input position
        // (j + 0.5) * scale, i.e. between input centres i + 0.5; clamped at the borders.
        const src = Math.min(Math.max((j + 0.5) * scale - 0.5, 0), inSize - 1);
        const i0 = Math.floor(src);
        const frac = src - i0;
        index.push(i0);
        weight.push(1 - frac);
        if (frac > 0) {
          index.push(Math.min(i0 + 1, inSize - 1));
          weight.push(frac);
        }
      }
    }
    start[outSize] = index.length;
    return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
  }

  /**
   * Horizontal pass: each of the `height` rows resized to `size` columns, as `planes` floats per
   * pixel (1 for gray, 3 for colour). Alpha is composited over black here (colour * alpha / 255),
   * so transparent regions become black rather than whatever colour the encoder left there.
   * Gray and colour have their own loops: this is the hot path and V8 does best with plain ones.
   */
  function resizeRows(img: DecodedImage, xw: AxisWeights, size: number): Float64Array {
    const { width, height, channels, data } = img;
    const { start, index, weight } = xw;
    const out = new Float64Array(height * size * (channels === 1 ? 1 : 3));
    let o = 0;
    for (let y = 0; y < height; y++) {
      const rowBase = y * width;
      for (let ox = 0; ox < size; ox++) {
        const end = start[ox + 1];
        if (channels === 1) {
          let v = 0;
          for (let k = start[ox]; k < end; k++) v += weight[k] * data[rowBase + index[k]];
          out[o++] = v;
          continue;
        }
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = start[ox]; k < end; k++) {
          const p = (rowBase + index[k]) * channels;
          const w = channels === 4 ? (weight[k] * data[p + 3]) / 255 : weight[k];
          r += w * data[p];
          g += w * data[p + 1];
          b += w * data[p + 2];
        }
        out[o++] = r;
        out[o++] = g;
        out[o++] = b;
      }
    }
    return out;
  }

  function toByte(v: number): number {
    return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }

  /** Vertical pass, then rounding to uint8 RGB (a gray plane is written to all three channels). */
  function resizeColumns(rows: Float64Array, yw: AxisWeights, size: number, planes: number): Uint8Array {
    const { start, index, weight } = yw;
    const out = new Uint8Array(size * size * 3);
    let o = 0;
    for (let oy = 0; oy < size; oy++) {
      const end = start[oy + 1];
      for (let ox = 0; ox < size; ox++) {
        if (planes === 1) {
          let v = 0;
          for (let k = start[oy]; k < end; k++) v += weight[k] * rows[index[k] * size + ox];
          const byte = toByte(v);
          out[o++] = byte;
          out[o++] = byte;
          out[o++] = byte;
          continue;
        }
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = start[oy]; k < end; k++) {
          const p = (index[k] * size + ox) * 3;
          r += weight[k] * rows[p];
          g += weight[k] * rows[p + 1];
          b += weight[k] * rows[p + 2];
        }
        out[o++] = toByte(r);
        out[o++] = toByte(g);
        out[o++] = toByte(b);
      }
    }
    return out;
  }

  /** Weights depend only on the two sizes, and a dataset has few distinct ones. */
  const weightCache = new Map<string, AxisWeights>();
  function cachedAxisWeights(inSize: number, outSize: number): AxisWeights {
    const key = `${inSize}>${outSize}`;
    let w = weightCache.get(key);
    if (!w) {
      if (weightCache.size >= 64) weightCache.clear(); // bounded: odd-sized photo collections
      w = axisWeights(inSize, outSize);
      weightCache.set(key, w);
    }
    return w;
  }

  function toRgbResized(img: DecodedImage, size: number): Uint8Array {
    if (!Number.isInteger(size) || size < 1) throw new Error(`image size must be a positive integer, got ${size}`);
    if (img.data.length < img.width * img.height * img.channels) {
      throw new Error(`pixel data too short for ${img.width}x${img.height}x${img.channels}`);
    }
    // Gray stays one plane through the resize (a third of the work) and is replicated at the end.
    const rows = resizeRows(img, cachedAxisWeights(img.width, size), size);
    return resizeColumns(rows, cachedAxisWeights(img.height, size), size, img.channels === 1 ? 1 : 3);
  }

  function toRgb(img: DecodedImage): RgbImage {
    const { width, height, channels, data } = img;
    if (channels === 3) return { width, height, data };
    const out = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) {
      if (channels === 1) {
        out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = data[p];
      } else {
        const alpha = data[p * 4 + 3] / 255;
        for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(data[p * 4 + c] * alpha);
      }
    }
    return { width, height, data: out };
  }

  /** An item's aligned face at `size`; an alignment that fails throws an error marked `landmarks`. */
  function alignedResized(img: DecodedImage, target: AlignTarget, size: number): Uint8Array {
    if (!deps.align) throw Object.assign(new Error('this codec was made without the alignment maths'), { fatal: true });
    let aligned: Uint8Array;
    try {
      aligned = deps.align.alignFace(toRgb(img), target.points, target.size).data;
    } catch (err) {
      if (isFatal(err)) throw err;
      const from = target.landmarksFile ? ` (landmarks from ${target.landmarksFile})` : '';
      throw Object.assign(new Error(`cannot align${from}: ${messageOf(err)}`), { landmarks: true });
    }
    return target.size === size ? aligned : toRgbResized({ width: target.size, height: target.size, channels: 3, data: aligned }, size);
  }

  function readBytes(path: string): Uint8Array {
    try {
      return deps.readFile(path);
    } catch (err) {
      throw new Error(`cannot read file (${messageOf(err)})`);
    }
  }

  async function decodeBatch(items: (string | DecodeItem)[], size: number, maxPixels: number): Promise<DecodedBatch> {
    const pixels = size * size * 3;
    const data = new Uint8Array(items.length * pixels); // own ArrayBuffer: safe to transfer
    const failures: (string | null)[] = [];
    const landmarkFailures: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = typeof items[i] === 'string' ? { path: items[i] as string } : (items[i] as DecodeItem);
      try {
        const bytes = readBytes(item.path);
        // One file at a time: a worker is one thread, and in-process the main thread waits on
        // sharp (which runs on libuv's pool) rather than computing.
        const img = usesNativeDecoder(bytes) ? await decodeNative(bytes, maxPixels) : decodeBytes(bytes, maxPixels);
        data.set(item.align ? alignedResized(img, item.align, size) : toRgbResized(item.box ? cropImage(img, item.box) : img, size), i * pixels);
        failures.push(null);
      } catch (err) {
        if (isFatal(err)) throw err; // not a bad image (see isFatal)
        failures.push(messageOf(err));
        if ((err as { landmarks?: boolean }).landmarks) landmarkFailures.push(i);
      }
    }
    return landmarkFailures.length > 0 ? { data, failures, landmarkFailures } : { data, failures };
  }

  /**
   * PNGs only: jpeg-js's encoder spends ~50 ms building tables, which would double a worker's start
   * time. Code paths the test does not reach are still guarded: a broken copy throws a
   * ReferenceError there, which decodeBatch lets through so the pool redoes the work in-process.
   */
  function selfTest(): Uint8Array {
    const width = 5;
    const height = 4;
    const png = new deps.PNG({ width, height });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37 + 11) % 256;
    const files = [
      deps.PNG.sync.write(png), // RGBA: alpha compositing
      deps.PNG.sync.write(png, { colorType: 0 }), // gray: single-plane path
      deps.PNG.sync.write(png, { colorType: 2 }), // RGB
    ];
    const parts = files.flatMap((bytes) => {
      const img = decodeBytes(bytes, 100);
      return [toRgbResized(img, 3), toRgbResized(img, 7), toRgbResized(img, 5)]; // shrink, enlarge, mixed
    });
    if (deps.align) {
      // The alignment maths too: a face in the RGBA image (converted to RGB), warped to 12 x 12.
      const points: FivePoints = [{ x: 1, y: 1 }, { x: 3.5, y: 1.2 }, { x: 2.2, y: 2 }, { x: 1.3, y: 3 }, { x: 3.1, y: 2.9 }];
      parts.push(alignedResized(decodeBytes(files[0], 100), { points, size: 12 }, 9));
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
    return out;
  }

  return { decodeImage, toRgbResized, toRgb, cropImage, usesNativeDecoder, decodeBatch, selfTest };
}

/** `data.maxPixels` by default (the config's default, from @fermix/core). */
export { DEFAULT_MAX_PIXELS };

/** The alignment maths this thread's codecs use (the workers make their own from the same source). */
const alignment = createAlignmentMaths();

/** The pure-JavaScript codec for this thread (no native decoder; see `codecWith` for sharp). */
export const imageCodec: ImageCodec = createImageCodec({ PNG: pngjs.PNG, jpeg, readFile: readFileSync, align: alignment });

/** A codec for this thread that hands large JPEGs to `native` (sharp), or the pure-JavaScript one. */
export function codecWith(native: NativeDecode | undefined): ImageCodec {
  return native ? createImageCodec({ PNG: pngjs.PNG, jpeg, readFile: readFileSync, native, align: alignment }) : imageCodec;
}

/**
 * Decodes a PNG or JPEG, recognised by its magic bytes (the extension is ignored). PNGs of any
 * bit depth (16-bit is scaled to 8), gray, gray+alpha, RGB, RGBA and palette are supported.
 * Throws an Error naming `path` and the reason (truncated, corrupt, unsupported format, more
 * pixels than `maxPixels`, checked on the header before decoding).
 */
export function decodeImage(bytes: Uint8Array, path: string, maxPixels: number = DEFAULT_MAX_PIXELS): DecodedImage {
  return imageCodec.decodeImage(bytes, path, maxPixels);
}

/**
 * Converts to `size` x `size` RGB uint8 (row-major, interleaved): gray is replicated to the three
 * channels and alpha is composited over black. Shrinking averages areas, enlarging is bilinear
 * with half-pixel centres. The aspect ratio is not kept: non-square images are stretched.
 */
export function toRgbResized(img: DecodedImage, size: number): Uint8Array {
  return imageCodec.toRgbResized(img, size);
}
