/**
 * Dev tool: draws a contact sheet of the synthetic dataset, one row per expression class, to check
 * by eye that the faces look like faces and the expressions read.
 *
 *   npx tsx packages/core/scripts/synthetic-sheet.ts [--size 48] [--cols 10] [--seed 1]
 *       [--split train] [--zoom 2] [--out /tmp/synthetic-sheet.png]
 */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { Rng } from '@fermix/core';
import { EXPRESSION_CLASSES } from '@fermix/core';
import { renderSyntheticFace } from '../src/synthetic.js';

function parseArgs(argv: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    args[m[1]] = m[2] ?? argv[++i];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const size = Number(args.size ?? 48);
const cols = Number(args.cols ?? 10);
const seed = Number(args.seed ?? 1);
const split = args.split ?? 'train';
// Small images are enlarged (nearest neighbour) so single pixels stay visible.
const zoom = Number(args.zoom ?? (size < 64 ? 2 : 1));
const out = args.out ?? '/tmp/synthetic-sheet.png';
const gap = 2;

const rows = EXPRESSION_CLASSES.length;
const cell = size * zoom + gap;
const png = new PNG({ width: cols * cell + gap, height: rows * cell + gap });
png.data.fill(255);

const root = new Rng(seed);
let elapsed = 0;
for (let r = 0; r < rows; r++) {
  for (let c = 0; c < cols; c++) {
    // Same keys as createSyntheticSource, so a cell can be traced back to its dataset sample.
    const rng = root.fork(`${split}/${EXPRESSION_CLASSES[r]}/${c}`);
    const t0 = performance.now();
    const image = renderSyntheticFace(r, rng, size);
    elapsed += performance.now() - t0;
    for (let y = 0; y < size * zoom; y++) {
      for (let x = 0; x < size * zoom; x++) {
        const src = ((Math.floor(y / zoom) * size + Math.floor(x / zoom)) * 3) | 0;
        const dst = ((r * cell + gap + y) * png.width + c * cell + gap + x) * 4;
        png.data[dst] = image[src];
        png.data[dst + 1] = image[src + 1];
        png.data[dst + 2] = image[src + 2];
        png.data[dst + 3] = 255;
      }
    }
  }
}

writeFileSync(out, PNG.sync.write(png));
console.log(`rows: ${EXPRESSION_CLASSES.join(', ')}`);
console.log(`wrote ${out} (${rows}x${cols} faces at ${size}px, ${(elapsed / (rows * cols)).toFixed(3)} ms per face)`);
