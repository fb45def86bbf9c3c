import pngjs from 'pngjs';

/** An RGB image as PNG bytes (8-bit, colour type 2, no alpha). */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) throw new Error(`encodeRgbPng: expected ${width}x${height}x3 = ${width * height * 3} bytes, got ${rgb.length}`);
  const png = new pngjs.PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return pngjs.PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}
