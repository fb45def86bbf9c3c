import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeRgbPng } from '@fermix/core';

/**
 * A CK+-style tree: `subjects` subjects, each with one 8x8 image per class folder (anger, happy,
 * sadness), each class showing in the mean brightness of one channel so a model can learn it.
 */
export function ckplusTree(subjects: number, folders = ['anger', 'happy', 'sadness']): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-ckplus-'));
  folders.forEach((folder, c) => {
    mkdirSync(path.join(root, folder), { recursive: true });
    for (let s = 1; s <= subjects; s++) {
      const rgb = new Uint8Array(8 * 8 * 3).map((_, i) => (i % 3 === c ? 200 : 40) + ((i * 7 + s * 13) % 30));
      writeFileSync(path.join(root, folder, `S${String(s).padStart(3, '0')}_00${c + 1}_0000001${s % 10}.png`), encodeRgbPng(rgb, 8, 8));
    }
  });
  return root;
}
