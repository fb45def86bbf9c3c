/**
 * Training kernels for the `@tensorflow/tfjs-backend-wasm` (4.22) backend.
 *
 * The wasm backend ships no `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput` or `UnsortedSegmentSum`, so conv nets cannot be trained on
 * it. The kernels below are composed from the wasm backend's own kernels (XNNPACK `Conv2D` /
 * `DepthwiseConv2dNative`, `Transpose`, `PadV2`, `Reverse`, `Sum`, `ScatterNd`, ...), called
 * directly through their `kernelFunc`s on wasm-heap tensors; nothing is copied to the JS cpu backend.
 *
 * Formulations (NHWC; x:[N,H,W,Ci], dy:[N,OH,OW,Co]; stride s, dilation d, top/left pad pt/pl):
 *  - Conv2DBackpropFilter: dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*s+kh*d-pt, ...,ci] dy[n,oh,ow,co]
 *    is itself a convolution with the roles swapped: input x^T:[Ci,H,W,N] (batch=Ci, channels=N),
 *    filter dy^T:[OH,OW,N,Co], stride d, dilation s, same top/left padding -> [Ci,KH,KW,Co] -> [KH,KW,Ci,Co].
 *    One XNNPACK convolution (a GEMM of M=Ci*KH*KW, K=N*OH*OW, N=Co) plus transposes; no im2col buffer.
 *    XNNPACK re-packs a convolution's filter on every call (a third of this kernel's time), so at
 *    stride 1 with Ci*H*W < Co*OH*OW the other operand is packed: input dy^T:[Co,OH,OW,N], filter
 *    x:[H,W,N,Ci], stride d, top/left padding (K-1)*d-p -> [Co,KH,KW,Ci] flipped -> [KH,KW,Ci,Co].
 *  - DepthwiseConv2dNativeBackpropFilter: the same trick with a depthwise convolution, folding the
 *    batch into the channels: x -> [1,H,W,N*Ci], dy -> [OH,OW,N*Ci,M], then sum over N.
 *  - DepthwiseConv2dNativeBackpropInput: dx is a stride-1 depthwise convolution (dilation d) of dy
 *    dilated by the stride (one PadV2 on a 6-D view) and padded by (effK-1-pt), with the spatially
 *    flipped filter viewed as [KH,KW,Ci*M,1]; the M multiplier outputs are summed.
 *  - Conv2DBackpropInput (replacement of the stock naive C++ loop, 3-10x faster): the same
 *    transposed convolution with XNNPACK `Conv2D` and the flipped filter transposed to [KH,KW,Co,Ci].
 *  - UnsortedSegmentSum: one ScatterNd (which accumulates duplicates); ids outside [0, numSegments)
 *    are dropped like TF/cpu by routing them to a scratch row that is sliced away.
 *  - MaxPoolGrad (replacement, see `registerWasmTrainingKernels`): argmax scan over the wasm heap in
 *    JS, as the wasm backend's own Slice/Cast/Fill kernels do, matching the cpu backend exactly
 *    (first maximum of each window wins, values <= 0 included).
 *  - ClipByValue (replacement for int32, which the stock kernel leaves unclipped above the maximum).
 *  - GatherV2, Reverse, Identity, Cast (replacements, for speed): row copies instead of per-element strides;
 *    Identity and same-dtype Cast share the input's buffer (reference-counted) as the cpu backend does.
 * Every intermediate is released with `backend.disposeData`; only the returned TensorInfo survives.
 */
import {
  Add,
  backend_util,
  Cast,
  ClipByValue,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  Fill,
  FusedBatchNorm,
  GatherV2,
  getKernel,
  Identity,
  MaxPoolGrad,
  Mean,
  Multiply,
  Neg,
  PadV2,
  registerKernel,
  Reshape,
  Reverse,
  Rsqrt,
  ScatterNd,
  Slice,
  Sub,
  Sum,
  Transpose,
  unregisterKernel,
  UnsortedSegmentSum,
  util,
} from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DataType,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  FusedBatchNormAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  TensorInfo,
  UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
type Shape4 = [number, number, number, number];

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/**
 * Runs other wasm kernels and tracks their outputs; `finish(result)` disposes every intermediate
 * except `result` (reshape outputs share a refcounted dataId, so each one is released exactly once).
 */
export class WasmScope {
  private readonly temps: TensorInfo[] = [];

  constructor(readonly backend: WasmBackendLike) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(kernelName, BACKEND);
    if (kernel == null) {
      throw new Error(`wasm training kernels: the wasm backend has no '${kernelName}' kernel`);
    }
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Registers a tensor allocated directly with `backend.makeOutput`. */
  track(info: TensorInfo): TensorInfo {
    this.temps.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run(Reshape, { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    if (perm.every((p, i) => p === i)) return x;
    // Moving only size-1 axes does not change the memory order: a reshape avoids a copy.
    const moved = perm.filter((p) => x.shape[p] !== 1);
    if (moved.every((p, i) => i === 0 || moved[i - 1] < p)) return this.reshape(x, perm.map((p) => x.shape[p]));
    return this.run(Transpose, { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return size.every((s, i) => s === x.shape[i]) ? x : this.run(Slice, { x }, { begin, size });
  }

  zeros(shape: number[], dtype: DataType = 'float32'): TensorInfo {
    return this.run(Fill, {}, { shape, value: 0, dtype });
  }

  /** Disposes all intermediates but `result`, which is handed to the caller (the engine). */
  finish(result: TensorInfo): TensorInfo {
    const i = this.temps.lastIndexOf(result);
    let owned: TensorInfo;
    if (i >= 0) {
      owned = this.temps.splice(i, 1)[0];
    } else {
      // A kernel input passed through unchanged must not be handed out un-owned: copy it.
      owned = this.run(Identity, { x: result });
      this.temps.pop();
    }
    this.disposeAll();
    return owned;
  }

  disposeAll(): void {
    for (const t of this.temps.splice(0)) this.backend.disposeData(t.dataId);
  }
}

function withScope(backend: unknown, body: (s: WasmScope) => TensorInfo): TensorInfo {
  const scope = new WasmScope(backend as WasmBackendLike);
  try {
    return scope.finish(body(scope));
  } catch (e) {
    scope.disposeAll();
    throw e;
  }
}

function assertNHWC(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(
      `${kernelName} on the wasm backend supports only dataFormat 'NHWC', got '${dataFormat}'. ` +
        `Transpose NCHW inputs to NHWC first.`,
    );
  }
}

function assertFloat32(kernelName: string, ...infos: TensorInfo[]): void {
  for (const t of infos) {
    if (t.dtype !== 'float32') {
      throw new Error(`${kernelName} on the wasm backend supports only float32 tensors, got ${t.dtype}`);
    }
  }
}

/**
 * Shared geometry of the filter-gradient convolution: dy (as the filter) slides over x with stride
 * `dilation` and dilation `stride`; the bottom/right padding is chosen so that the result has at
 * least [KH, KW] positions (more only when x has rows/columns the forward pass never read).
 */
function filterGradPadding(info: backend_util.Conv2DInfo, outH: number, outW: number): ExplicitPadding {
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const pb = Math.max(0, (info.filterHeight - 1) * info.dilationHeight + (outH - 1) * info.strideHeight + 1 - info.inHeight - pt);
  const pr = Math.max(0, (info.filterWidth - 1) * info.dilationWidth + (outW - 1) * info.strideWidth + 1 - info.inWidth - pl);
  return [[0, 0], [pt, pb], [pl, pr], [0, 0]];
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter
// ---------------------------------------------------------------------------------------------

const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  // Conv2DBackpropFilter has no `dilations` attr in tfjs-core (its conv2d gradient rejects
  // dilations > 1); accept one anyway so the kernel can be used for dilated convolutions directly.
  const dilations = ((attrs as NamedAttrMap | undefined)?.dilations as number | [number, number] | undefined) ?? 1;
  assertNHWC(Conv2DBackpropFilter, dataFormat);
  assertFloat32(Conv2DBackpropFilter, x, dy);
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const [KH, KW, Ci, Co] = filterShape;
  const [N, H, W] = x.shape;
  const [, OH, OW] = dy.shape;

  return withScope(backend, (s) => {
    if (N * OH * OW === 0 || util.sizeFromShape(x.shape) === 0) return s.zeros(filterShape);
    // XNNPACK re-packs the convolution's filter operand on every call (a transpose and a packing
    // pass, ~8 ns per element, about a third of the kernel's time): pack the smaller of x and dy.
    const swapTop = (KH - 1) * info.dilationHeight - info.padInfo.top;
    const swapLeft = (KW - 1) * info.dilationWidth - info.padInfo.left;
    const swapped = info.strideHeight === 1 && info.strideWidth === 1 && swapTop >= 0 && swapLeft >= 0 &&
      H * W * Ci < OH * OW * Co;
    if (swapped) {
      // dy is the image (batch = Co, channels = N) and x the filter [H, W, N, Ci]: out[co, p, q, ci]
      // = sum dy[n, p*d + h - swapTop, q*d + w - swapLeft, co] x[n, h, w, ci] = dW[KH-1-p, KW-1-q, ci, co].
      const dyT = channelsToBatch(s, dy); // [Co, OH, OW, N]
      const xF = s.transpose(x, [1, 2, 0, 3]); // [H, W, N, Ci]
      const r = s.run(Conv2D, { x: dyT, filter: xF }, {
        strides: [info.dilationHeight, info.dilationWidth],
        dilations: [1, 1],
        pad: [
          [0, 0],
          [swapTop, Math.max(0, (KH - 1) * info.dilationHeight + H - OH - swapTop)],
          [swapLeft, Math.max(0, (KW - 1) * info.dilationWidth + W - OW - swapLeft)],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      }); // [Co, >=KH, >=KW, Ci], spatially flipped
      const flipped = s.run(Reverse, { x: s.slice(r, [0, 0, 0, 0], [Co, KH, KW, Ci]) }, { dims: [1, 2] });
      return s.transpose(flipped, [1, 2, 3, 0]); // [KH, KW, Ci, Co]
    }
    const xT = channelsToBatch(s, x); // [Ci, H, W, N]: batch = Ci, channels = N
    const dyT = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Co]: a filter
    const r = s.run(Conv2D, { x: xT, filter: dyT }, {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: filterGradPadding(info, OH, OW),
      dataFormat: 'NHWC',
    }); // [Ci, >=KH, >=KW, Co]
    const cropped = s.slice(r, [0, 0, 0, 0], [Ci, KH, KW, Co]);
    return s.transpose(cropped, [1, 2, 0, 3]); // [KH, KW, Ci, Co]
  });
};

/**
 * [N, H, W, C] -> [C, H, W, N] as two transposes that each keep a contiguous run: [N, H*W*C] ->
 * [H*W*C, N] (a 2-D transpose), then [H*W, C, N] -> [C, H*W, N] (moves whole rows of N). The wasm
 * backend's one-step 4-D transpose with these axes is about twice as slow (poor locality).
 */
function channelsToBatch(s: WasmScope, t: TensorInfo): TensorInfo {
  const [N, H, W, C] = t.shape;
  if (N === 1 || C === 1 || H * W === 1) return s.transpose(t, [3, 1, 2, 0]);
  const t2 = s.transpose(s.reshape(t, [N, H * W * C]), [1, 0]); // [H*W*C, N]
  const t3 = s.transpose(s.reshape(t2, [H * W, C, N]), [1, 0, 2]); // [C, H*W, N]
  return s.reshape(t3, [C, H, W, N]);
}

// ---------------------------------------------------------------------------------------------
// DepthwiseConv2dNativeBackpropFilter
// ---------------------------------------------------------------------------------------------

const depthwiseBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  assertNHWC(DepthwiseConv2dNativeBackpropFilter, (attrs as NamedAttrMap | undefined)?.dataFormat as string | undefined);
  assertFloat32(DepthwiseConv2dNativeBackpropFilter, x, dy);
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true);
  const [KH, KW, C, M] = filterShape;
  const [N, H, W] = x.shape;
  const [, OH, OW] = dy.shape;

  return withScope(backend, (s) => {
    if (N * OH * OW === 0 || util.sizeFromShape(x.shape) === 0) return s.zeros(filterShape);
    // Fold the batch into the channels so that the depthwise convolution also sums over n.
    const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, H, W, N * C]); // [1, H, W, N*C]
    const dy5 = s.reshape(dy, [N, OH, OW, C, M]);
    const dyT = s.reshape(s.transpose(dy5, [1, 2, 0, 3, 4]), [OH, OW, N * C, M]); // filter
    const r = s.run(DepthwiseConv2dNative, { x: xT, filter: dyT }, {
      strides: [info.dilationHeight, info.dilationWidth],
      dilations: [info.strideHeight, info.strideWidth],
      pad: filterGradPadding(info, OH, OW),
      dataFormat: 'NHWC',
    }); // [1, >=KH, >=KW, N*C*M]
    const [, KH2, KW2] = r.shape;
    let g = s.reshape(r, [KH2, KW2, N, C * M]);
    g = N > 1 ? s.run(Sum, { x: g }, { axis: [2], keepDims: false }) : s.reshape(g, [KH2, KW2, C * M]);
    g = s.slice(g, [0, 0, 0], [KH, KW, C * M]);
    return s.reshape(g, [KH, KW, C, M]);
  });
};

// ---------------------------------------------------------------------------------------------
// DepthwiseConv2dNativeBackpropInput
// ---------------------------------------------------------------------------------------------

const depthwiseBackpropInputWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  assertNHWC(DepthwiseConv2dNativeBackpropInput, (attrs as NamedAttrMap | undefined)?.dataFormat as string | undefined);
  assertFloat32(DepthwiseConv2dNativeBackpropInput, dy, filter);
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as Shape4, strides, dilations ?? 1, pad, dimRoundingMode, true);
  const [N, H, W, C] = inputShape;
  const [KH, KW, , M] = filter.shape;
  const [, OH, OW] = dy.shape;

  return withScope(backend, (s) => {
    if (N * OH * OW === 0 || util.sizeFromShape(inputShape) === 0) return s.zeros(inputShape);
    // Spatially flipped filter with one output channel per (c, m).
    const flipped = s.reshape(s.run(Reverse, { x: filter }, { dims: [0, 1] }), [KH, KW, C * M, 1]);
    const z = transposedConvolution(s, dy, flipped, info, [N, H, W], true); // [N, H, W, C*M]
    if (M === 1) return z;
    // Sum the channel-multiplier outputs (innermost axis, so no transpose inside Sum).
    return s.run(Sum, { x: s.reshape(z, [N, H, W, C, M]) }, { axis: [4], keepDims: false });
  });
};

/**
 * Gradient of a convolution w.r.t. its input (a "transposed convolution"): dy is dilated by the
 * forward stride (one PadV2 on a [N,OH,1,OW,1,C] view), then correlated at stride 1 with the
 * forward dilation with `flippedFilter` (already spatially reversed, laid out for `Conv2D` or
 * `DepthwiseConv2dNative`), padded by effK-1-pad on top/left and so that exactly H x W comes out.
 * Negative paddings become crops of the output.
 */
function transposedConvolution(
  s: WasmScope, dy: TensorInfo, flippedFilter: TensorInfo, info: backend_util.Conv2DInfo,
  [N, H, W]: number[], depthwise: boolean,
): TensorInfo {
  const [, OH, OW, C] = dy.shape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  let dyd = dy;
  if (sh > 1 || sw > 1) {
    const dy6 = s.reshape(dy, [N, OH, 1, OW, 1, C]);
    const padded = s.run(PadV2, { x: dy6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    dyd = s.reshape(padded, [N, OH * sh, OW * sw, C]); // includes (s-1) trailing zero rows/cols
  }
  const [, HD, WD] = dyd.shape;
  const top = info.effectiveFilterHeight - 1 - info.padInfo.top;
  const left = info.effectiveFilterWidth - 1 - info.padInfo.left;
  const bottom = H - 1 + info.effectiveFilterHeight - top - HD;
  const right = W - 1 + info.effectiveFilterWidth - left - WD;
  const z = s.run(depthwise ? DepthwiseConv2dNative : Conv2D, { x: dyd, filter: flippedFilter }, {
    strides: [1, 1],
    dilations: [info.dilationHeight, info.dilationWidth],
    pad: [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]],
    dataFormat: 'NHWC',
  }); // [N, >=H, >=W, channels]
  return s.slice(z, [0, Math.max(-top, 0), Math.max(-left, 0), 0], [N, H, W, z.shape[3]]);
}

/**
 * [KH, KW, Ci, Co] -> [KH, KW, Co, Ci], spatially flipped when `flip`: one pass over the filter
 * that transposes each tap's Ci x Co block in 32 x 32 tiles. The backend's Reverse and Transpose
 * take two passes, and its transpose of a 512 x 512 block reads with a stride of a whole row (12 ms
 * for ResNet's [3, 3, 512, 512] filters, against 5-6 ms here); small filters keep those kernels.
 */
function swapInOut(s: WasmScope, filter: TensorInfo, flip: boolean): TensorInfo {
  const [KH, KW, Ci, Co] = filter.shape;
  if (Ci * Co < 128 * 128) {
    const source = flip ? s.run(Reverse, { x: filter }, { dims: [0, 1] }) : filter;
    return s.transpose(source, [0, 1, 3, 2]);
  }
  const out = s.track(s.backend.makeOutput([KH, KW, Co, Ci], 'float32'));
  const src = asInt32(s.backend.typedArrayFromHeap(filter));
  const dst = asInt32(s.backend.typedArrayFromHeap(out));
  const block = Ci * Co;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const from = (flip ? (KH - 1 - kh) * KW + (KW - 1 - kw) : kh * KW + kw) * block;
      transposeBlock(src, from, dst, (kh * KW + kw) * block, Ci, Co);
    }
  }
  return out;
}

/** dst[o + c * rows + r] = src[i + r * cols + c] for an r x c block, in 32 x 32 tiles. */
function transposeBlock(src: Int32Array, i: number, dst: Int32Array, o: number, rows: number, cols: number): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const row = i + r * cols;
        for (let c = c0; c < c1; c++) dst[o + c * rows + r] = src[row + c];
      }
    }
  }
}

/** Where one residue class r of an axis (rows s*a + r of dx) takes its taps and dy rows from. */
interface SubGridAxis {
  /** Taps of the filter along the axis, in the order the stride-1 convolution uses them (reversed). */
  taps: number[];
  /** dx rows in the class: ceil((size - r) / s). */
  rows: number;
  /** Padding before dy (negative: rows of the convolution's output to skip) and after. */
  before: number;
  after: number;
}

/**
 * For rows h = s*a + r of dx, the taps k with k = (h + pad) mod s meet dy row (h + pad - k) / s, so
 * dx[s*a + r] = sum over j of dy[a + q - j] W[s*j + c] with c = (r + pad) mod s and q = floor((r + pad) / s):
 * a stride-1 correlation of dy with the taps c, c+s, ... in reversed order, offset by J - 1 - q.
 */
function subGridAxis(r: number, s: number, k: number, pad: number, size: number, dyRows: number): SubGridAxis {
  const c = (r + pad) % s;
  const J = c < k ? Math.ceil((k - c) / s) : 0;
  const q = Math.floor((r + pad) / s);
  const rows = r < size ? Math.ceil((size - r) / s) : 0;
  const taps = Array.from({ length: J }, (_, j) => s * (J - 1 - j) + c);
  const before = J - 1 - q;
  return { taps, rows, before, after: rows - dyRows - before + J - 1 };
}

/**
 * The input gradient of a strided convolution (dilation 1) as s_h x s_w stride-1 convolutions, one
 * per residue class of dx's rows and columns, each with the filter taps that reach that class
 * (the "sub-pixel" decomposition of a transposed convolution). It multiplies no inserted zeros: the
 * zero-dilated formulation does s_h*s_w times the work (4x for ResNet's stride-2 layers). The
 * classes are interleaved into dx with row copies.
 */
function subPixelInputGradient(s: WasmScope, dy: TensorInfo, filter: TensorInfo, info: backend_util.Conv2DInfo, [N, H, W]: number[]): TensorInfo {
  const [KH, KW, Ci, Co] = filter.shape;
  const [, OH, OW] = dy.shape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const swapped = s.reshape(swapInOut(s, filter, false), [KH, KW, Co * Ci]); // [KH, KW, Co*Ci]
  const parts: { rh: number; rw: number; t: TensorInfo | null; rows: number; cols: number; skipRows: number; skipCols: number }[] = [];
  const indices = (list: number[]): TensorInfo => {
    const t = s.track(s.backend.makeOutput([list.length], 'int32'));
    (s.backend.typedArrayFromHeap(t) as Int32Array).set(list);
    return t;
  };
  for (let rh = 0; rh < sh; rh++) {
    const ah = subGridAxis(rh, sh, KH, info.padInfo.top, H, OH);
    for (let rw = 0; rw < sw; rw++) {
      const aw = subGridAxis(rw, sw, KW, info.padInfo.left, W, OW);
      const empty = ah.rows === 0 || aw.rows === 0;
      const convRows = OH + Math.max(ah.before, 0) + Math.max(ah.after, 0) - ah.taps.length + 1;
      const convCols = OW + Math.max(aw.before, 0) + Math.max(aw.after, 0) - aw.taps.length + 1;
      if (empty || ah.taps.length === 0 || aw.taps.length === 0 || convRows <= 0 || convCols <= 0) {
        parts.push({ rh, rw, t: null, rows: ah.rows, cols: aw.rows, skipRows: 0, skipCols: 0 });
        continue;
      }
      const byRow = s.run(GatherV2, { x: swapped, indices: indices(ah.taps) }, { axis: 0, batchDims: 0 });
      const sub = s.reshape(s.run(GatherV2, { x: byRow, indices: indices(aw.taps) }, { axis: 1, batchDims: 0 }), [ah.taps.length, aw.taps.length, Co, Ci]);
      const t = s.run(Conv2D, { x: dy, filter: sub }, {
        strides: [1, 1],
        dilations: [1, 1],
        pad: [[0, 0], [Math.max(ah.before, 0), Math.max(ah.after, 0)], [Math.max(aw.before, 0), Math.max(aw.after, 0)], [0, 0]],
        dataFormat: 'NHWC',
      }); // [N, >= rows, >= cols, Ci]
      parts.push({ rh, rw, t, rows: ah.rows, cols: aw.rows, skipRows: Math.max(-ah.before, 0), skipCols: Math.max(-aw.before, 0) });
    }
  }
  const out = s.track(s.backend.makeOutput([N, H, W, Ci], 'float32'));
  // Views after every allocation (which may grow and detach the heap); float32 copied as Int32 bits.
  const ov = asInt32(s.backend.typedArrayFromHeap(out));
  for (const p of parts) {
    if (p.t == null) {
      for (let n = 0; n < N; n++) for (let a = 0; a < p.rows; a++) for (let b = 0; b < p.cols; b++) {
        const o = ((n * H + sh * a + p.rh) * W + sw * b + p.rw) * Ci;
        ov.fill(0, o, o + Ci);
      }
      continue;
    }
    const tv = asInt32(s.backend.typedArrayFromHeap(p.t));
    const [, TH, TW] = p.t.shape;
    for (let n = 0; n < N; n++) for (let a = 0; a < p.rows; a++) {
      const srcRow = (n * TH + a + p.skipRows) * TW + p.skipCols;
      const dstRow = (n * H + sh * a + p.rh) * W + p.rw;
      for (let b = 0; b < p.cols; b++) {
        const src = (srcRow + b) * Ci;
        const dst = (dstRow + sw * b) * Ci;
        if (Ci >= 64) ov.set(tv.subarray(src, src + Ci), dst);
        else for (let c = 0; c < Ci; c++) ov[dst + c] = tv[src + c];
      }
    }
  }
  return out;
}

function asInt32(v: Float32Array | Int32Array | Uint8Array): Int32Array {
  return v instanceof Int32Array ? v : new Int32Array(v.buffer, v.byteOffset, v.byteLength / 4);
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput (replacement, see `registerWasmTrainingKernels`)
// ---------------------------------------------------------------------------------------------

/** The stock wasm kernel, used for NCHW (which the XNNPACK formulation below does not handle). */

const conv2DBackpropInputWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW' && stock(Conv2DBackpropInput) != null) return stock(Conv2DBackpropInput)!.kernelFunc(args);
  assertNHWC(Conv2DBackpropInput, dataFormat);
  assertFloat32(Conv2DBackpropInput, dy, filter);
  const dilations = ((attrs as NamedAttrMap | undefined)?.dilations as number | [number, number] | undefined) ?? 1;
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as Shape4, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const [N, H, W] = inputShape;
  const [, OH, OW] = dy.shape;
  return withScope(backend, (s) => {
    if (N * OH * OW === 0 || util.sizeFromShape(inputShape) === 0) return s.zeros(inputShape);
    if ((info.strideHeight > 1 || info.strideWidth > 1) && info.dilationHeight === 1 && info.dilationWidth === 1) {
      return subPixelInputGradient(s, dy, filter, info, [N, H, W]);
    }
    // [KH,KW,Ci,Co] -> flipped, in/out swapped: [KH,KW,Co,Ci].
    const flipped = swapInOut(s, filter, true);
    return transposedConvolution(s, dy, flipped, info, [N, H, W], false);
  });
};

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum
// ---------------------------------------------------------------------------------------------

const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const idsRank = segmentIds.shape.length;
  if (!util.arraysEqual(x.shape.slice(0, idsRank), segmentIds.shape)) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  const innerShape = x.shape.slice(idsRank);
  const innerSize = util.sizeFromShape(innerShape);
  const n = util.sizeFromShape(segmentIds.shape);
  const outShape = [numSegments, ...innerShape];

  return withScope(backend, (s) => {
    if (n === 0 || innerSize === 0 || numSegments === 0) return s.zeros(outShape, x.dtype);
    const ids = s.backend.typedArrayFromHeap(segmentIds);
    let allValid = true;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < numSegments)) {
        allValid = false;
        break;
      }
    }
    let indices: TensorInfo;
    let rows = numSegments;
    if (allValid && segmentIds.dtype === 'int32') {
      indices = s.reshape(segmentIds, [n, 1]);
    } else {
      // Like TF (and the cpu backend), ids outside [0, numSegments) are dropped: send them to a
      // scratch row `numSegments` that is sliced off below (ScatterNd does no bounds checks).
      rows = allValid ? numSegments : numSegments + 1;
      indices = s.track(s.backend.makeOutput([n, 1], 'int32'));
      const idx = s.backend.typedArrayFromHeap(indices);
      const src = s.backend.typedArrayFromHeap(segmentIds); // re-read: makeOutput may grow the heap
      for (let i = 0; i < n; i++) {
        const id = src[i];
        idx[i] = id >= 0 && id < numSegments ? id : numSegments;
      }
    }
    const updates = s.reshape(x, [n, innerSize]);
    const summed = s.run(ScatterNd, { indices, updates }, { shape: [rows, innerSize] });
    return s.reshape(s.slice(summed, [0, 0], [numSegments, innerSize]), outShape);
  });
};

// ---------------------------------------------------------------------------------------------
// MaxPoolGrad (replacement)
// ---------------------------------------------------------------------------------------------

const maxPoolGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const b = backend as WasmBackendLike;
  const info = backend_util.computePool2DInfo(
    input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;

  const dx = b.makeOutput(input.shape, 'float32');
  // Views are taken after the allocation above (which may grow and detach the wasm heap), each as a
  // Float32Array: the loop then sees one array type (a union compiles to slow generic access).
  const asFloat = (t: TensorInfo) => {
    const v = b.typedArrayFromHeap(t);
    return v instanceof Float32Array ? v : new Float32Array(v.buffer, v.byteOffset, v.length);
  };
  maxPoolGradLoop(asFloat(input), asFloat(dy), asFloat(dx), {
    batchSize, H, W, C, OH, OW, sh, sw, dh, dw, fh, fw, pt, pl,
  });
  return dx;
};

interface PoolGeometry {
  batchSize: number; H: number; W: number; C: number; OH: number; OW: number;
  sh: number; sw: number; dh: number; dw: number; fh: number; fw: number; pt: number; pl: number;
}

/** dx of max pooling: each window's dy goes to the first maximum of its window, per channel. */
function maxPoolGradLoop(xv: Float32Array, dyv: Float32Array, dxv: Float32Array, g: PoolGeometry): void {
  const { batchSize, H, W, C, OH, OW, sh, sw, dh, dw, fh, fw, pt, pl } = g;
  dxv.fill(0);
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && dh === 1 && dw === 1 && pt === 0 && pl === 0 && 2 * OH <= H && 2 * OW <= W) {
    maxPoolGrad2x2(xv, dyv, dxv, batchSize, H, W, C, OH, OW);
    return;
  }
  const best = new Float32Array(C);
  const pos = new Int32Array(C);
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - pt;
      let rMin = r0;
      while (rMin < 0) rMin += dh;
      const rMax = Math.min(H, r0 + fh);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - pl;
        let cMin = c0;
        while (cMin < 0) cMin += dw;
        const cMax = Math.min(W, c0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        pos.fill(-1);
        // Row-major scan with a strict '>' keeps the first maximum of each window, like the cpu
        // backend; values <= 0 are handled because the running max starts at -Infinity.
        for (let r = rMin; r < rMax; r += dh) {
          for (let col = cMin; col < cMax; col += dw) {
            const base = ((n * H + r) * W + col) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[base + c];
              if (v > best[c]) {
                best[c] = v;
                pos[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) {
          const p = pos[c];
          if (p >= 0) dxv[p] += dyv[dyBase + c];
        }
      }
    }
  }
}

/**
 * The usual 2x2 pooling with stride 2 and no padding: each window's four inputs per channel compared
 * in row-major order without scratch arrays (the same first maximum as the general loop; a window
 * with no value above -Infinity, all NaN or -Infinity, gets no gradient, as there).
 */
function maxPoolGrad2x2(xv: Float32Array, dyv: Float32Array, dxv: Float32Array, N: number, H: number, W: number, C: number, OH: number, OW: number): void {
  const rowStep = W * C;
  let d = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const p00 = ((n * H + 2 * oh) * W + 2 * ow) * C;
        const p01 = p00 + C;
        const p10 = p00 + rowStep;
        const p11 = p10 + C;
        for (let c = 0; c < C; c++, d++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          const v00 = xv[p00 + c];
          if (v00 > best) { best = v00; at = p00 + c; }
          const v01 = xv[p01 + c];
          if (v01 > best) { best = v01; at = p01 + c; }
          const v10 = xv[p10 + c];
          if (v10 > best) { best = v10; at = p10 + c; }
          const v11 = xv[p11 + c];
          if (v11 > best) { at = p11 + c; }
          if (at >= 0) dxv[at] = dyv[d];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// FusedBatchNorm (replacement for a per-channel normalisation of the last axis)
// ---------------------------------------------------------------------------------------------

/**
 * y = x a + b with a = scale / sqrt(variance + eps) and b = offset - mean a per channel, as PyTorch's
 * CPU batch norm computes it: two element-wise passes on XNNPACK (threaded), where the stock kernel
 * is one scalar pass on one thread (10 ms against 4 for a [32, 48, 48, 32] activation). Other layouts
 * (parameters that are not one value per channel of the last axis) go to the stock kernel.
 */
const fusedBatchNormWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs as Record<'x' | 'mean' | 'variance' | 'offset' | 'scale', TensorInfo | undefined> & { x: TensorInfo; mean: TensorInfo; variance: TensorInfo };
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: TensorInfo | undefined) => t == null || (t.dtype === 'float32' && util.sizeFromShape(t.shape) === channels);
  if (x.dtype !== 'float32' || x.shape.length < 2 || ![mean, variance, offset, scale].every(perChannel)) {
    return runStock(FusedBatchNorm, args);
  }
  return withScope(backend, (s) => {
    const vec = (t: TensorInfo) => s.reshape(t, [channels]);
    const eps = s.run(Fill, {}, { shape: [], value: varianceEpsilon, dtype: 'float32' });
    const invStd = s.run(Rsqrt, { x: s.run(Add, { a: vec(variance), b: eps }) });
    const a = scale == null ? invStd : s.run(Multiply, { a: vec(scale), b: invStd });
    const shifted = s.run(Multiply, { a: vec(mean), b: a });
    const b = offset == null ? s.run(Neg, { x: shifted }) : s.run(Sub, { a: vec(offset), b: shifted });
    return s.run(Add, { a: s.run(Multiply, { a: x, b: a }), b });
  });
};

// ---------------------------------------------------------------------------------------------
// GatherV2 (replacement for batchDims 0): row copies
// ---------------------------------------------------------------------------------------------


/**
 * Gathers whole slices along `axis`: one typed-array copy per (outer index, gathered index) for
 * long slices, a plain element loop for short ones (where a subarray per slice would cost more).
 * The stock kernel's C++ addresses every element through strides: 2.5 ms to permute a [32, 48, 48, 3]
 * batch (mixup and MixAugment, every step; 0.1-0.2 ms here) and 7.5 ms for flip's gather of
 * [32*48*48, 3] rows (about 3 ms here). Out-of-range indices throw like the stock kernel;
 * batchDims > 0 and strings go to the stock kernel.
 */
const gatherV2Wasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims?: number };
  const parsedAxis = util.parseAxisParam(axis, x.shape)[0];
  const sliceSize = util.sizeFromShape(x.shape.slice(parsedAxis + 1));
  if ((batchDims ?? 0) !== 0 || x.dtype === 'string') {
    return runStock(GatherV2, args);
  }
  const b = backend as WasmBackendLike;
  const dimSize = x.shape[parsedAxis];
  const outerSize = util.sizeFromShape(x.shape.slice(0, parsedAxis));
  const n = util.sizeFromShape(indices.shape);
  // A copy: the output's allocation below may grow the heap and detach views of it.
  const heapIdx = b.typedArrayFromHeap(indices);
  const idx = heapIdx instanceof Int32Array ? heapIdx.slice() : Int32Array.from(heapIdx);
  for (let i = 0; i < n; i++) {
    const index = idx[i];
    if (!(index <= dimSize - 1 && index >= 0)) util.assert(false, () => `GatherV2: the index value ${index} is not in [0, ${dimSize - 1}]`);
  }
  const outShape = [...x.shape.slice(0, parsedAxis), ...indices.shape, ...x.shape.slice(parsedAxis + 1)];
  const out = b.makeOutput(outShape, x.dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  // Views after the allocation above (which may grow and detach the wasm heap). 4-byte elements
  // (float32, int32) are copied as Int32Array bits, so the copy loops see one array type each
  // (V8 compiles a loop over a union of typed-array types to slow generic element access).
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  if (xv.BYTES_PER_ELEMENT === 4) {
    gatherSlices32(asInt32(ov), asInt32(xv), idx, outerSize, dimSize, sliceSize);
  } else {
    gatherSlices8(ov as Uint8Array, xv as Uint8Array, idx, outerSize, dimSize, sliceSize);
  }
  return out;
};

/** Gathered slices of 4-byte elements: one typed-array copy per long slice, an element loop for short ones. */
function gatherSlices32(ov: Int32Array, xv: Int32Array, idx: Int32Array, outerSize: number, dimSize: number, sliceSize: number): void {
  const n = idx.length;
  let o = 0;
  for (let outer = 0; outer < outerSize; outer++) {
    const base = outer * dimSize;
    if (sliceSize >= 64) {
      for (let i = 0; i < n; i++) {
        const start = (base + idx[i]) * sliceSize;
        ov.set(xv.subarray(start, start + sliceSize), o);
        o += sliceSize;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const start = (base + idx[i]) * sliceSize;
        for (let k = 0; k < sliceSize; k++) ov[o++] = xv[start + k];
      }
    }
  }
}

/** As `gatherSlices32`, for 1-byte elements (bool). */
function gatherSlices8(ov: Uint8Array, xv: Uint8Array, idx: Int32Array, outerSize: number, dimSize: number, sliceSize: number): void {
  const n = idx.length;
  let o = 0;
  for (let outer = 0; outer < outerSize; outer++) {
    const base = outer * dimSize;
    for (let i = 0; i < n; i++) {
      const start = (base + idx[i]) * sliceSize;
      if (sliceSize >= 64) {
        ov.set(xv.subarray(start, start + sliceSize), o);
        o += sliceSize;
      } else {
        for (let k = 0; k < sliceSize; k++) ov[o++] = xv[start + k];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reverse (replacement): contiguous runs copied in reversed order
// ---------------------------------------------------------------------------------------------

/**
 * Reverses along `dims` by copying the contiguous runs after the last reversed axis, in reversed
 * order: reversing a [3, 3, 512, 512] filter's spatial axes (every Conv2DBackpropInput does) is 9
 * block copies. The stock kernel's C++ addresses every element through its coordinates: 66 ms for
 * that filter on one thread and 127 ms on two (ResNet-18's input gradients spent ~30 % of their time
 * in it); about 1 ms here. Exact for every dtype it handles (a copy); complex64 and strings go to
 * the stock kernel.
 */
const reverseWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { dims } = attrs as unknown as { dims: number | number[] };
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    return runStock(Reverse, args);
  }
  const shape = x.shape;
  const axes = x.shape.length === 0 ? [] : util.parseAxisParam(dims, shape).filter((a) => shape[a] > 1);
  if (axes.length === 0 || util.sizeFromShape(shape) === 0) return shareBuffer(backend, x);
  const b = backend as WasmBackendLike;
  const last = Math.max(...axes);
  const run = util.sizeFromShape(shape.slice(last + 1));
  const outer = shape.slice(0, last + 1);
  const reversed = outer.map((_, a) => axes.includes(a));
  const out = b.makeOutput([...shape], x.dtype);
  // Views after the allocation (which may grow and detach the heap); 4-byte elements as Int32 bits.
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  if (xv.BYTES_PER_ELEMENT === 4) {
    reverseRuns(asInt32(ov), asInt32(xv), outer, reversed, run);
  } else {
    reverseRuns(ov as Uint8Array, xv as Uint8Array, outer, reversed, run);
  }
  return out;
};

/** Copies `xv` to `ov` with the axes of `outer` flagged in `reversed` reversed; each index of `outer` addresses a run of `run` elements. */
function reverseRuns<T extends Int32Array | Uint8Array>(ov: T, xv: T, outer: number[], reversed: boolean[], run: number): void {
  const rank = outer.length;
  const strides = new Array<number>(rank); // in elements
  strides[rank - 1] = run;
  for (let a = rank - 2; a >= 0; a--) strides[a] = strides[a + 1] * outer[a + 1];
  const walk = (axis: number, src: number, dst: number): void => {
    const n = outer[axis];
    const stride = strides[axis];
    const rev = reversed[axis];
    if (axis < rank - 1) {
      for (let i = 0; i < n; i++) walk(axis + 1, src + (rev ? n - 1 - i : i) * stride, dst + i * stride);
    } else if (run >= 64) {
      for (let i = 0; i < n; i++) {
        const s = src + (rev ? n - 1 - i : i) * run;
        ov.set(xv.subarray(s, s + run) as never, dst + i * run);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const s = src + (rev ? n - 1 - i : i) * run;
        const d = dst + i * run;
        for (let k = 0; k < run; k++) ov[d + k] = xv[s + k];
      }
    }
  };
  walk(0, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// ClipByValue (replacement for int32)
// ---------------------------------------------------------------------------------------------

/**
 * The stock kernel reads int32 tensors with float32 bounds and leaves values above the maximum
 * unclipped (tfjs-backend-wasm 4.22: clipByValue([-5, 3, 100] int32, 0, 10) gives [0, 3, 100]).
 * int32 is clipped here in JavaScript, like the cpu backend; float32 goes to the stock kernel.
 */
const clipByValueWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number };
  if (x.dtype !== 'int32') {
    return runStock(ClipByValue, args);
  }
  const b = backend as WasmBackendLike;
  const out = b.makeOutput([...x.shape], 'int32');
  const xv = b.typedArrayFromHeap(x) as Int32Array;
  const ov = b.typedArrayFromHeap(out) as Int32Array;
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    ov[i] = v < clipValueMin ? clipValueMin : v > clipValueMax ? clipValueMax : v;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// Identity and same-dtype Cast (replacements): share the buffer instead of copying it
// ---------------------------------------------------------------------------------------------


/** A new handle on `x`'s buffer (reference-counted, like the wasm backend's own Reshape). */
function shareBuffer(backend: unknown, x: TensorInfo): TensorInfo {
  (backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * The wasm backend's Identity copies the whole buffer; the cpu and webgl backends share it (tensors
 * are immutable: no kernel writes into its inputs, and `Variable.assign` swaps buffers). A training
 * step runs ~200 of them (`tf.clone` in gradients, tfjs-layers), ~14 ms of copies for the small CNN.
 */
const identityWasm: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string' && stock(Identity) != null) return stock(Identity)!.kernelFunc(args);
  return shareBuffer(args.backend, x);
};

/** Cast to the tensor's own dtype (tf.moments and the Square gradient cast float32 to float32) shares the buffer; other casts are the stock kernel's. */
const castWasm: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const { dtype } = args.attrs as unknown as { dtype: DataType };
  if (dtype === x.dtype && dtype !== 'string') return shareBuffer(args.backend, x);
  return runStock(Cast, args, `no stock kernel for ${x.dtype} -> ${dtype}`);
};

/**
 * Mean over every axis but the last (batch norm's moments, global average pooling): one XNNPACK
 * average pooling of x viewed as [1, rows, 1, C] with a [rows, 1] window. The stock Mean first
 * transposes the reduced axes to the end (a full copy), then reduces: 3-8x slower on activations.
 * Same values up to float rounding (another summation order). Other axes: the stock kernel.
 */
const meanWasm: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const axes = util.parseAxisParam(axis, x.shape);
  const rank = x.shape.length;
  const leading = rank >= 2 && axes.length === rank - 1 && [...axes].sort((a, b) => a - b).every((a, i) => a === i);
  const channels = x.shape[rank - 1];
  const rows = util.sizeFromShape(x.shape) / Math.max(1, channels);
  if (!leading || x.dtype !== 'float32' || rows <= 1 || channels === 0) {
    return runStock(Mean, args);
  }
  const outShape = keepDims ? x.shape.map((d, i) => (i === rank - 1 ? d : 1)) : [channels];
  return withScope(args.backend, (s) => s.reshape(meanOfRows(s, x, rows, channels, rank > 2 ? x.shape[0] : 1), outShape));
};

/**
 * The mean of `x` viewed as [rows, C] over its rows, by XNNPACK average pooling in two stages:
 * `groups` (the batch) pools of rows / groups rows each, which the thread pool shares out (one
 * output per group; a single pool has one output and runs on one thread), then the mean of the
 * group means (equal group sizes, so it is the mean). Each output is computed by one thread:
 * the result does not depend on the thread count.
 */
export function meanOfRows(s: WasmScope, x: TensorInfo, rows: number, channels: number, groups: number): TensorInfo {
  const pool = (t: TensorInfo, batch: number, window: number) =>
    s.run('AvgPool', { x: s.reshape(t, [batch, window, 1, channels]) }, { filterSize: [window, 1], strides: [1, 1], pad: 'valid' } as unknown as NamedAttrMap);
  if (groups <= 1 || rows % groups !== 0 || rows / groups <= 1) return pool(x, 1, rows);
  return pool(pool(x, groups, rows / groups), 1, groups);
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

const MISSING_KERNELS: KernelConfig[] = [
  { kernelName: Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2DBackpropFilterWasm },
  { kernelName: DepthwiseConv2dNativeBackpropFilter, backendName: BACKEND, kernelFunc: depthwiseBackpropFilterWasm },
  { kernelName: DepthwiseConv2dNativeBackpropInput, backendName: BACKEND, kernelFunc: depthwiseBackpropInputWasm },
  { kernelName: UnsortedSegmentSum, backendName: BACKEND, kernelFunc: unsortedSegmentSumWasm },
];

/** The package's own kernels that fermix's replacements fall back to (NCHW, strings, other axes...). */
const stockKernels = new Map<string, KernelConfig>();

function stock(kernelName: string): KernelConfig | undefined {
  return stockKernels.get(kernelName);
}

/** Runs the package's own kernel for the cases a replacement leaves to it; throws when it is missing. */
function runStock(kernelName: string, args: Parameters<KernelFunc>[0], missing = 'the stock kernel is missing'): ReturnType<KernelFunc> {
  const kernel = stock(kernelName);
  if (kernel == null) throw new Error(`${kernelName} on the wasm backend: ${missing}`);
  return kernel.kernelFunc(args);
}

/** Puts `kernelFunc` in place of the package's kernel, keeping the stock one (and its setupFunc) for fallbacks. */
function replaceStock(kernelName: string, kernelFunc: KernelFunc, registered: string[]): void {
  const current = getKernel(kernelName, BACKEND);
  if (current?.kernelFunc === kernelFunc) return;
  if (current != null) {
    stockKernels.set(kernelName, current);
    unregisterKernel(kernelName, BACKEND);
  }
  registerKernel({ kernelName, backendName: BACKEND, setupFunc: stock(kernelName)?.setupFunc, kernelFunc });
  registered.push(kernelName);
}

/**
 * Registers the gradient kernels the wasm backend lacks, a corrected MaxPoolGrad and a faster
 * Conv2DBackpropInput. Call it after `@tensorflow/tfjs-backend-wasm` has been imported (importing
 * that package registers its own MaxPoolGrad / Conv2DBackpropInput, which would replace ours);
 * before or after `tf.setBackend('wasm')` both work. Idempotent: missing kernels that are already
 * present are skipped and replacements are not redone. Returns the names registered by this call.
 */
export function registerWasmTrainingKernels(): string[] {
  const registered: string[] = [];
  for (const config of MISSING_KERNELS) {
    if (getKernel(config.kernelName, BACKEND) != null) continue;
    registerKernel(config);
    registered.push(config.kernelName);
  }
  // Replace the stock naive-loop C++ Conv2DBackpropInput with the XNNPACK formulation (several times
  // faster); its setupFunc is kept so its kernelFunc still serves NCHW.
  replaceStock(Conv2DBackpropInput, conv2DBackpropInputWasm, registered);
  replaceStock(GatherV2, gatherV2Wasm, registered);
  replaceStock(Reverse, reverseWasm, registered);
  replaceStock(ClipByValue, clipByValueWasm, registered);
  // Buffer-sharing Identity and same-dtype Cast; the stock kernels are kept for the other cases.
  replaceStock(Identity, identityWasm, registered);
  replaceStock(Cast, castWasm, registered);
  replaceStock(Mean, meanWasm, registered);
  replaceStock(FusedBatchNorm, fusedBatchNormWasm, registered);
  // Replace, not skip: wasm 4.22's C++ MaxPoolGrad starts its max at FLT_MIN (> 0) and keeps the last tie, so all-<=0 windows get no gradient.
  const current = getKernel(MaxPoolGrad, BACKEND);
  if (current?.kernelFunc !== maxPoolGradWasm) {
    if (current != null) unregisterKernel(MaxPoolGrad, BACKEND);
    registerKernel({ kernelName: MaxPoolGrad, backendName: BACKEND, kernelFunc: maxPoolGradWasm });
    registered.push(MaxPoolGrad);
  }
  return registered;
}
