import type { FivePoints, Point2 } from '@fermix/core';

/** iBUG 68-point indices: the image-left eye (the subject's right) is 36-41, the image-right eye 42-47. */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];
const NOSE_TIP = 30;
const LEFT_MOUTH_CORNER = 48;
const RIGHT_MOUTH_CORNER = 54;

function mean(points: readonly Point2[], indices: number[]): Point2 {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[i].x;
    y += points[i].y;
  }
  return { x: x / indices.length, y: y / indices.length };
}

/**
 * The five alignment points of a 68-point (iBUG 300-W) landmark set: eye centres (mean of points
 * 36-41 and 42-47), nose tip (30), mouth corners (48, 54).
 */
export function fivePointsFrom68(points: readonly Point2[]): FivePoints {
  if (points.length !== 68) throw new Error(`fivePointsFrom68: expected 68 landmarks, got ${points.length}`);
  const copy = (p: Point2): Point2 => ({ x: p.x, y: p.y });
  return [mean(points, LEFT_EYE), mean(points, RIGHT_EYE), copy(points[NOSE_TIP]), copy(points[LEFT_MOUTH_CORNER]), copy(points[RIGHT_MOUTH_CORNER])];
}
