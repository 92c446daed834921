#!/bin/bash
# The issue-16 figures on a GPU machine, in one call (a lent GPU gives minutes, not hours):
#   1. GPU, driver, torch and ONNX Runtime providers;
#   2. `bench runtimes RUN hardware=cuda` for each run given (its trained networks under every runtime
#      the machine can run, interleaved; eager and compile always, onnxruntime where the CUDA
#      execution provider is installed);
#   3. the msnas op table on the `cuda` profile at the quick size and its latency check.
# Usage: benchmarks/cuda_runtimes.sh RUNS_DIR OUT_DIR RUN [RUN ...]
# Each step has its own time limit, so one that hangs leaves the others' figures. Outputs (logs, the
# runtimes JSON of each run, the calibration) are written flat into OUT_DIR.
set -u
runs_dir=$1
out=$2
shift 2
mkdir -p "$out"
BENCH=(python3 -c "import sys; from rtbench.cli import main; sys.exit(main(sys.argv[1:]))")
export PYTHONUNBUFFERED=1

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,utilization.gpu --format=csv
  python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, torch.cuda.get_device_name(0), '| onnxruntime', o.__version__, o.get_available_providers())"
  nproc
} 2>&1 | tee "$out/gpu.txt"

for run in "$@"; do
  echo "=== runtimes $run $(date -u +%T)"
  timeout 170 "${BENCH[@]}" runtimes "$run" hardware=cuda "runs.dir=$runs_dir" 2>&1 | tee "$out/runtimes-$run.log"
  cp "$runs_dir"/*/"$run"/runtimes/runtimes-cuda.json "$out/runtimes-cuda-$run.json" 2>/dev/null
done

echo "=== profile + latency-check $(date -u +%T)"
timeout 60 "${BENCH[@]}" profile hardware=cuda space=msnas budget=quick 2>&1 | tail -5 | tee "$out/profile.log"
timeout 150 "${BENCH[@]}" latency-check hardware=cuda space=msnas budget=quick n=30 calibration_n=10 2>&1 | tee "$out/latency-check.log"
cp ~/.cache/rtbench/lut/msnas_128px_cuda_*.calibration.json "$out/" 2>/dev/null
echo "=== done $(date -u +%T)"
