import { describeEquality } from './equality.js';

// The single-thread wasm build: its heap is a plain ArrayBuffer, which ONNX Runtime reads and writes in place.
describeEquality(1);
