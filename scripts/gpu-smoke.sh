#!/usr/bin/env bash
# fermix on an NVIDIA GPU: what the machine has, which backend and device fermix picks, the time of
# a training step, and a one-epoch fer2013-style run. Prints a block to paste into a bug report.
#
#   scripts/gpu-smoke.sh [fer2013-style image folder]   (default ../shared/data/fer2013-mini, else synthetic faces)
#
# Run it from the repository after `pnpm install && pnpm build`, with @tensorflow/tfjs-node-gpu@4.22.0
# installed (docs/gpu.md). It changes nothing outside a new folder under ${TMPDIR:-/tmp}.
set -u -o pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/packages/cli/dist/bin.js"
out="$(mktemp -d "${TMPDIR:-/tmp}/fermix-gpu-smoke-XXXXXX")"
data="${1:-$repo/../shared/data/fer2013-mini}"
summary="$out/summary.txt"

say() { printf '%s\n' "$*" | tee -a "$summary"; }
section() { printf '\n== %s\n' "$*"; }

if [ ! -f "$bin" ]; then
  echo "gpu-smoke: $bin not found; run pnpm install && pnpm build first" >&2
  exit 2
fi

section "machine"
say "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "os: $(uname -srm)"
say "node: $(node --version)"
say "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
say "fermix: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown) $(node "$bin" --version 2>/dev/null)"
say "tfjs-node-gpu: $(cd "$repo/packages/core" && node -p "require('@tensorflow/tfjs-node-gpu/package.json').version" 2>/dev/null || echo 'not found from packages/core (pnpm add -w @tensorflow/tfjs-node-gpu@4.22.0, see docs/gpu.md)')"
say "CUDA_VISIBLE_DEVICES: ${CUDA_VISIBLE_DEVICES-(unset)}  TF_FORCE_GPU_ALLOW_GROWTH: ${TF_FORCE_GPU_ALLOW_GROWTH-(unset)}  LD_LIBRARY_PATH: ${LD_LIBRARY_PATH-(unset)}"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "nvidia-smi: $(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>&1 | paste -sd ';' -)"
  say "CUDA (driver): $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1)"
else
  say "nvidia-smi: not found (no NVIDIA driver on the PATH)"
fi
# The libraries TensorFlow 2.9 opens by name (CUDA 11.2, cuDNN 8.1).
for lib in libcudart.so.11.0 libcublas.so.11 libcublasLt.so.11 libcufft.so.10 libcurand.so.10 libcusolver.so.11 libcusparse.so.11 libcudnn.so.8; do
  found="$(ldconfig -p 2>/dev/null | grep -m1 " $lib " | sed 's/.*=> //')"
  if [ -z "$found" ] && [ -n "${LD_LIBRARY_PATH-}" ]; then
    found="$(IFS=:; for d in $LD_LIBRARY_PATH; do [ -e "$d/$lib" ] && { echo "$d/$lib"; break; }; done)"
  fi
  say "  $lib: ${found:-MISSING}"
done

if [ -d "$data/train" ] && [ -d "$data/test" ]; then
  data_yaml="  format: imagefolder
  root: $(cd "$data" && pwd)"
  bench_data="$(cd "$data" && pwd)"
  say "data: $(cd "$data" && pwd)"
else
  data_yaml="  format: synthetic
  trainPerClass: 200
  testPerClass: 50"
  bench_data="synthetic"
  say "data: synthetic 48x48 faces ($data has no train/ and test/)"
fi

section "one epoch: small-cnn, 48x48, batch 32, backend auto (log: $out/train.log)"
cat > "$out/fermix.config.yaml" <<EOF
seed: 1
backend: auto
data:
$data_yaml
  imageSize: 48
model:
  backbone: small-cnn
train:
  epochs: 1
  batchSize: 32
  optimizer: { name: adam, lr: 0.001 }
plugins: []
EOF
( cd "$out" && CI=true TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}" node "$bin" train -c fermix.config.yaml --out run ) > "$out/train.log" 2>&1
train_code=$?
say "train exit code: $train_code"
grep -E '^\[fermix\] (backend:|warn: .*computes on the CPU)' "$out/train.log" | sed 's/^/  /' | tee -a "$summary"
say "  lines saying 'already registered': $(grep -c 'already registered' "$out/train.log")"
if [ -f "$out/run/metrics.json" ]; then
  node -e '
    const m = require(process.argv[1]);
    const h = m.history[0] || {};
    console.log(`  backend ${m.backend}, device ${m.device}${m.deviceReason ? " (" + m.deviceReason + ")" : ""}`);
    console.log(`  accuracy ${(m.accuracy * 100).toFixed(2)}%, macro F1 ${(m.macroF1 * 100).toFixed(2)}%, train loss ${h.trainLoss}`);
    console.log(`  epoch ${h.seconds?.toFixed(1)} s, ${h.imagesPerSecond?.toFixed(1)} images/s, data wait ${((h.dataWaitShare ?? 0) * 100).toFixed(2)} %, cpu ${m.cpuSeconds?.toFixed(1)} s over ${m.seconds?.toFixed(1)} s`);
  ' "$out/run/metrics.json" | tee -a "$summary"
else
  say "  no metrics.json; the end of the log:"
  tail -n 15 "$out/train.log" | sed 's/^/  /' | tee -a "$summary"
fi

section "step times: fermix bench --quick on tensorflow (log: $out/bench.log)"
( cd "$repo" && TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}" node "$bin" bench --quick --backends tensorflow --models small-cnn,resnet18 \
    --data "$bench_data" --no-parallel --no-scaling --no-accelerator --json "$out/bench.json" ) > "$out/bench.log" 2>&1
bench_code=$?
say "bench exit code: $bench_code"
if [ -f "$out/bench.json" ]; then
  node -e '
    const r = require(process.argv[1]);
    for (const b of r.backends) console.log(`  backend ${b.name}: ${b.available ? `on ${b.device}${b.deviceReason ? " (" + b.deviceReason + ")" : ""}` : `not available (${b.reason})`}`);
    for (const s of r.steps) console.log(`  ${s.backend} ${s.model} ${s.size}x${s.size} batch ${s.batch}: step ${s.stepMs} ms (${s.imagesPerSecond} images/s), forward ${s.forwardMs} ms, tensor growth ${s.tensorGrowth}`);
    if (r.kernels) console.log(`  kernels (read back): conv ${r.kernels.gflopsConv} GFLOP/s, filter grad ${r.kernels.gflopsFilter}, input grad ${r.kernels.gflopsInput}, matmul ${r.kernels.gflopsMatmul}`);
    console.log(`  load average at start: ${r.machine.loadAverage.join(" ")}`);
  ' "$out/bench.json" | tee -a "$summary"
else
  say "  no bench.json; the end of the log:"
  tail -n 15 "$out/bench.log" | sed 's/^/  /' | tee -a "$summary"
fi

printf '\n--- paste from here ---\n'
cat "$summary"
printf -- '--- to here ---\n'
echo "full output: $out (train.log, bench.log, bench.json, run/)"
[ "$train_code" -eq 0 ] && [ "$bench_code" -eq 0 ]
