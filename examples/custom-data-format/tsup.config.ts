import { defineConfig } from 'tsup';

// ESM (dist/index.js) + CJS (dist/index.cjs) + types, like every @fermix package. @fermix/core and
// @fermix/data are peer dependencies, so tsup leaves them external: the format uses the user's copies.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
