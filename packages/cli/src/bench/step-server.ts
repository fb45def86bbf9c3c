/**
 * A training-step server: one process whose backend runs on a fixed number of threads, timing one
 * training step at a time on request. The wasm backend's thread count is fixed per process, so a
 * comparison of thread counts (or of fermix against PyTorch, scripts/bench-anchor) runs one server
 * per side and interleaves their steps from a driver: never two steps at once, and a change in the
 * machine's load hits every side alike.
 *
 * `fermix bench` also times each backend's steps in a server of its own, so no backend is measured
 * in a process another backend has already set up (gradients, heaps, loaded native libraries).
 *
 * Protocol: JSON lines. The server prints `{"ready": true, "threads", "backend", "device", ...}`
 * first, then answers each request line with one line:
 *   {"cmd":"setup","model":"small-cnn","size":48,"batch":32,"classes":7,"seed":1} -> {"ok":true,"params":n,"tensors":n}
 *     optional: "microBatch": n, and the batch itself as "images" (base64 of float32 [batch, size,
 *     size, 3] in [0, 1]) with "labels" (class indices); without them, random images.
 *   {"cmd":"step"} -> {"ms": wall, "cpuMs": process CPU, "loss": n, "tensors": n}
 *   {"cmd":"forward"} -> {"ms", "cpuMs", "tensors"}: model.apply in training mode, read back, in the step's micro-batches
 *   {"cmd":"quit"} -> exits. Any failure -> {"error": "..."}.
 * Every time includes a read-back (the step reads its loss), so it covers the backend's compute,
 * not only the dispatch of kernels a GPU queues.
 * PyTorch's side (scripts/bench-anchor/torch_step.py) speaks the same protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { registerBackbones } from '@fermix/backbones';
import {
  BackboneRegistry,
  basePlan,
  buildModel,
  createMemoryLogger,
  createOptimizer,
  createTrainStep,
  initializeKernels,
  Rng,
  selectBackend,
  type AcceleratorName,
  type BackendName,
  type ThreadsSetting,
  type TrainStep,
} from '@fermix/core';

export interface StepServerReady {
  ready: true;
  pid?: number;
  threads: number | null;
  backend: string;
  provider?: string;
  device?: string;
  deviceReason?: string;
  threadsReason?: string;
  [key: string]: unknown;
}

export interface StepReply {
  ms: number;
  cpuMs: number;
  loss: number;
  /** tf.memory().numTensors after the step. */
  tensors: number;
}

export interface ForwardReply {
  ms: number;
  cpuMs: number;
  tensors: number;
}

/** The `setup` request. */
export interface StepServerSetup {
  model: string;
  size: number;
  batch: number;
  classes?: number;
  seed?: number;
  microBatch?: number;
  /** base64 of the batch's float32 pixels [batch, size, size, 3], with `labels`. */
  images?: string;
  labels?: number[];
}

/** `images` of a setup request from float32 pixels. */
export function encodeImages(pixels: Float32Array): string {
  return Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength).toString('base64');
}

function decodeImages(base64: string, expected: number): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength !== expected * 4) throw new Error(`setup: images hold ${bytes.byteLength / 4} values, expected ${expected}`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Waits for `t` by reading one element back; a backend that queues kernels (a GPU) has then run them. */
export function readOne(t: tf.Tensor): void {
  tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]).dataSync());
}

/** Serves steps on stdin/stdout until `quit` or the end of stdin. */
export async function serveSteps(options: { backend?: BackendName; threads?: ThreadsSetting; accelerator?: AcceleratorName } = {}): Promise<number> {
  const choice = await selectBackend(options.backend ?? 'wasm', createMemoryLogger(), { threads: options.threads, accelerator: options.accelerator });
  const write = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  write({
    ready: true,
    pid: process.pid,
    threads: choice.threads ?? null,
    backend: choice.name,
    provider: choice.provider,
    device: choice.device,
    ...(choice.deviceReason ? { deviceReason: choice.deviceReason } : {}),
    threadsReason: choice.threadsReason,
    accelerator: choice.accelerator ?? null,
  } satisfies StepServerReady);
  const registry = registerBackbones(new BackboneRegistry());
  let current: { step: TrainStep; net: tfl.LayersModel; x: tf.Tensor4D; y: tf.Tensor2D; chunk: number; dispose: () => void } | null = null;
  const timed = (fn: () => void) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    try {
      const req = JSON.parse(line) as { cmd: string } & Partial<StepServerSetup>;
      if (req.cmd === 'quit') break;
      if (req.cmd === 'setup') {
        current?.dispose();
        current = null;
        const size = req.size ?? 48;
        const batch = req.batch ?? 32;
        const classes = req.classes ?? 7;
        const net = buildModel(basePlan({ backbone: req.model ?? 'small-cnn', imageSize: size, numClasses: classes }), registry);
        initializeKernels(net, new Rng(req.seed ?? 1));
        // The optimizer `fermix train` makes for `optimizer: { name: adam, lr: 0.001 }` (torch.optim.Adam's rule, as the anchor's PyTorch side).
        const optimizer = createOptimizer({ name: 'adam', lr: 1e-3 });
        const rng = new Rng(req.seed ?? 1);
        const pixels = req.images ? decodeImages(req.images, batch * size * size * 3) : Float32Array.from({ length: batch * size * size * 3 }, () => rng.uniform());
        const labels = req.labels ?? Array.from({ length: batch }, (_, i) => i % classes);
        const x = tf.tensor4d(pixels, [batch, size, size, 3]);
        const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32')) as tf.Tensor2D;
        const step = createTrainStep({ model: net, optimizer, microBatch: req.microBatch });
        current = { step, net, x, y, chunk: req.microBatch ?? batch, dispose: () => (tf.dispose([x, y]), optimizer.dispose(), net.dispose()) };
        write({ ok: true, params: net.countParams(), tensors: tf.memory().numTensors });
      } else if (req.cmd === 'step') {
        if (!current) throw new Error('step before setup');
        const { step, x, y } = current;
        let loss = NaN;
        const t = timed(() => (loss = step({ x, y }).loss));
        write({ ...t, loss, tensors: tf.memory().numTensors } satisfies StepReply);
      } else if (req.cmd === 'forward') {
        if (!current) throw new Error('forward before setup');
        const { net, x, chunk } = current;
        const batch = x.shape[0];
        // Training mode, read back; in the step's micro-batches when it has them (the memory limit).
        const t = timed(() => {
          for (let start = 0; start < batch; start += chunk) {
            tf.tidy(() => readOne(net.apply(tf.slice(x, start, Math.min(chunk, batch - start)), { training: true }) as tf.Tensor));
          }
        });
        write({ ...t, tensors: tf.memory().numTensors } satisfies ForwardReply);
      } else {
        throw new Error(`unknown command ${JSON.stringify(req.cmd)}`);
      }
    } catch (err) {
      write({ error: (err as Error).message });
    }
  }
  current?.dispose();
  return 0;
}

/** The driver's end of one step server (a child process speaking the protocol above). */
export class StepClient {
  private readonly child: ChildProcess;
  private readonly replies: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  private exited: Error | null = null;
  private stderr = '';

  constructor(
    readonly label: string,
    argv: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(line);
      } else this.replies.push(line);
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.once('exit', (code, signal) => {
      this.exited = new Error(`${label} exited (code ${code}, signal ${signal}): ${this.stderr.trim().split('\n').slice(-5).join(' | ')}`);
      if (this.waiting) this.waiting('');
    });
  }

  private next(): Promise<string> {
    if (this.replies.length > 0) return Promise.resolve(this.replies.shift()!);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = (line) => (this.exited && !line ? reject(this.exited) : resolve(line));
    });
  }

  private async reply<T>(): Promise<T> {
    const line = await this.next();
    let parsed: T & { error?: string };
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`${this.label} printed a line that is not JSON: ${line.slice(0, 200)}`);
    }
    if (parsed.error) throw new Error(`${this.label}: ${parsed.error}`);
    return parsed;
  }

  ready(): Promise<StepServerReady> {
    return this.reply<StepServerReady>();
  }

  async request<T>(req: Record<string, unknown>): Promise<T> {
    this.child.stdin!.write(JSON.stringify(req) + '\n');
    return this.reply<T>();
  }

  close(): void {
    if (this.child.exitCode === null) {
      this.child.stdin!.end(JSON.stringify({ cmd: 'quit' }) + '\n');
      setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
    }
  }
}

export interface InterleavedSide {
  label: string;
  client: StepClient;
  ready: StepServerReady;
  params?: number;
  ms: number[];
  cpuMs: number[];
  /** Every step's loss, warm-up included. */
  losses: number[];
}

/**
 * Sets every side up with the same model, then runs `warmup + rounds` rounds; round r runs side
 * (r + k) mod n as its k-th, one step at a time. Returns each side's timed steps.
 */
export async function interleaveSteps(
  sides: { label: string; client: StepClient }[],
  setup: { model: string; size: number; batch: number; classes?: number; seed?: number },
  warmup: number,
  rounds: number,
  progress: (m: string) => void = () => {},
): Promise<InterleavedSide[]> {
  const out: InterleavedSide[] = [];
  for (const s of sides) {
    const ready = await s.client.ready();
    const { params } = await s.client.request<{ params: number }>({ cmd: 'setup', classes: 7, seed: 1, ...setup });
    out.push({ label: s.label, client: s.client, ready, params, ms: [], cpuMs: [], losses: [] });
  }
  for (let round = 0; round < warmup + rounds; round++) {
    for (let k = 0; k < out.length; k++) {
      const side = out[(round + k) % out.length];
      const r = await side.client.request<StepReply>({ cmd: 'step' });
      if (!Number.isFinite(r.loss)) throw new Error(`${side.label}: loss ${r.loss}`);
      side.losses.push(r.loss);
      if (round >= warmup) {
        side.ms.push(r.ms);
        side.cpuMs.push(r.cpuMs);
      }
    }
    progress(`${setup.model} round ${round + 1}/${warmup + rounds}${round < warmup ? ' (warm-up)' : ''}`);
  }
  return out;
}
