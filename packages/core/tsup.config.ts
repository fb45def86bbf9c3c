import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.library';

// shims: import.meta.url in the CJS build (backend selection and the wasm threads resolve files with it).
// data: the deprecated @fermix/core/data subpath (re-exports of @fermix/data, outside core's own graph).
export default defineConfig({ ...libraryBuild, shims: true, entry: { index: 'src/index.ts', data: 'deprecated/data.ts' } });
