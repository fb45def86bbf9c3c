import { describeEquality } from './equality.js';

// The threaded wasm build: its heap is a SharedArrayBuffer, so inputs and outputs are copied through scratch buffers.
describeEquality(2);
