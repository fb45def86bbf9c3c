/**
 * The HDF5 reading @fermix/weights needs, on jsfive (pure JavaScript, reads an ArrayBuffer in
 * memory; see the README for why jsfive and not h5wasm).
 *
 * jsfive reads what a file's headers point at and nothing else, so a file cut short after the
 * bytes one dataset needs still opens. `openHdf5` therefore checks the superblock's end-of-file
 * address against the bytes present before anything is read, and turns jsfive's throws (often
 * plain strings) into Errors that name the file.
 */
import * as jsfive from 'jsfive';

export type Hdf5Group = jsfive.Group;
export type Hdf5Dataset = jsfive.Dataset;

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** A weights file that cannot be used: not HDF5, truncated, or not a Keras layout. Names the file. */
export class WeightsFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'WeightsFileError';
  }
}

const readUint = (view: DataView, offset: number, size: number): number => {
  if (size === 8) return Number(view.getBigUint64(offset, true));
  if (size === 4) return view.getUint32(offset, true);
  return view.getUint16(offset, true);
};

/** Where the HDF5 signature is (0, 512, 1024, ... as the format allows), or -1. */
function signatureOffset(bytes: Uint8Array): number {
  for (let at = 0; at + SIGNATURE.length <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => bytes[at + i] === b)) return at;
  }
  return -1;
}

/** The end-of-file address the superblock records (versions 0-3), relative to the base address. */
function recordedEnd(bytes: Uint8Array, at: number, file: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number) => {
    if (at + n > bytes.length) throw new WeightsFileError(file, `truncated: ${bytes.length} bytes, too few for the HDF5 superblock`);
  };
  need(9);
  const version = bytes[at + 8];
  if (version === 0 || version === 1) {
    need(16);
    const offsets = bytes[at + 13];
    const fields = at + (version === 0 ? 24 : 28);
    need(fields - at + 4 * offsets);
    return readUint(view, fields + 2 * offsets, offsets);
  }
  if (version === 2 || version === 3) {
    need(12);
    const offsets = bytes[at + 9];
    need(12 + 4 * offsets);
    return readUint(view, at + 12 + 2 * offsets, offsets);
  }
  throw new WeightsFileError(file, `HDF5 superblock version ${version} is not supported (0 to 3 are)`);
}

/** Opens an HDF5 file held in memory; throws a WeightsFileError for anything else or a truncated file. */
export function openHdf5(bytes: Uint8Array, file: string): jsfive.File {
  const at = signatureOffset(bytes);
  if (at < 0 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    // A zip: Keras 3's .keras archive keeps its weights as model.weights.h5 inside.
    throw new WeightsFileError(file, 'a zip archive, not an HDF5 file: for a Keras 3 .keras file, give the model.weights.h5 it contains (unzip it)');
  }
  if (at < 0) throw new WeightsFileError(file, 'not an HDF5 file (no HDF5 signature): expected a Keras .h5 weights file');
  const end = recordedEnd(bytes, at, file);
  if (bytes.length < at + end) {
    throw new WeightsFileError(file, `truncated: ${bytes.length} bytes, its HDF5 header says ${at + end} (an interrupted download or copy?)`);
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return hdf5Call(file, 'open', () => new jsfive.File(buffer, file));
}

/** Runs a jsfive call, turning whatever it throws into a WeightsFileError naming the file and what was read. */
export function hdf5Call<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof WeightsFileError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new WeightsFileError(file, `cannot read ${what}: ${message} (a damaged or unsupported HDF5 file)`, { cause: err });
  }
}

/** The group or dataset at `path` under `group`, or null when there is none (jsfive throws "<name> not found in group"). */
export function getNode(file: string, group: jsfive.Group, path: string, what: string): jsfive.Group | jsfive.Dataset | null {
  try {
    return group.get(path);
  } catch (err) {
    if (typeof err === 'string' && /not found in group$/.test(err)) return null;
    return hdf5Call(file, what, () => {
      throw err;
    });
  }
}

export const isGroup = (node: unknown): node is jsfive.Group => node instanceof jsfive.Group;
export const isDataset = (node: unknown): node is jsfive.Dataset => node instanceof jsfive.Dataset;

/** An attribute holding strings (HDF5 fixed-length strings come NUL-padded), or undefined. */
export function stringList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (typeof v === 'string' ? v : new TextDecoder().decode(v as Uint8Array)).replace(/\0+$/, ''));
}
