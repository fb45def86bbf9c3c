import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.library';

// shims: import.meta.url in the CJS build (the decode workers find their script with it).
export default defineConfig({ ...libraryBuild, shims: true });
