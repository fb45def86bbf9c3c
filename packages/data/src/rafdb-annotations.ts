/**
 * RAF-DB's manual landmark annotations: `<root>/Annotation/manual/<stem>_manu_attri.txt` for the
 * original image `<root>/Image/original/<stem>.jpg`. The first five lines are `x<TAB>y` (tabs or
 * spaces) for the left eye, right eye, nose tip, left mouth corner and right mouth corner, in the
 * original image's pixels; gender, race and age lines follow and are ignored here.
 */
import path from 'node:path';
import { FIVE_POINT_NAMES, type FivePoints, type Point2 } from './align.js';
import { quoted } from './labels.js';
import { DataError } from './source.js';

export const RAFDB_ORIGINAL_DIR = 'Image/original';
export const RAFDB_ANNOTATION_DIR = 'Annotation/manual';

function stemOf(name: string): string {
  return name.slice(0, name.length - path.posix.extname(name).length);
}

/** `train_00001.jpg` → `<root>/Image/original/train_00001.jpg`. */
export function rafdbOriginalPath(root: string, name: string): string {
  return path.join(root, RAFDB_ORIGINAL_DIR, name);
}

/** `train_00001.jpg` → `<root>/Annotation/manual/train_00001_manu_attri.txt`. */
export function rafdbAnnotationPath(root: string, name: string): string {
  return path.join(root, RAFDB_ANNOTATION_DIR, `${stemOf(name)}_manu_attri.txt`);
}

/**
 * The five landmarks of a `_manu_attri.txt` file's text. Throws a DataError naming `file:line` when
 * one of the first five lines is not two finite numbers.
 */
export function parseRafdbLandmarks(text: string, file: string): FivePoints {
  const lines = text.split(/\r?\n/);
  const points: Point2[] = [];
  for (let i = 0; i < 5; i++) {
    const content = (lines[i] ?? '').trim();
    const where = `${file}:${i + 1}`;
    if (content === '') {
      throw new DataError(`${where}: expected the ${FIVE_POINT_NAMES[i]} as "x<TAB>y" (the first 5 lines are the landmarks), found ${i < lines.length ? 'an empty line' : 'the end of the file'}`, file);
    }
    const tokens = content.split(/\s+/);
    const [x, y] = tokens.map(Number);
    if (tokens.length !== 2 || !Number.isFinite(x) || !Number.isFinite(y)) {
      throw new DataError(`${where}: expected the ${FIVE_POINT_NAMES[i]} as "x<TAB>y", found ${quoted(content)}`, file);
    }
    points.push({ x, y });
  }
  return points as FivePoints;
}
