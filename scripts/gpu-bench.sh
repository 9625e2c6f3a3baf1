#!/usr/bin/env bash
# GPU benchmark of the local LLM runtime (candle CUDA build) with `clinrag bench llm`.
#
#   scripts/gpu-bench.sh build        # on the build machine (Rust + network to PyPI): CUDA toolchain from PyPI, release build
#   scripts/gpu-bench.sh run [MODEL]  # on the GPU machine (carry target/gpu/clinrag and the model file)
#   scripts/gpu-bench.sh              # both, when one machine has Rust, the toolchain and a GPU
#
# The GPU machines have driver 580 (CUDA 13.0) but no Rust; the CUDA compiler and libraries come
# from PyPI (13.0 line, matching the driver). Record the figures in benchmarks/llm.md with the
# decode rate as a share of the GPU's memory-bandwidth limit (bandwidth / model bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-all}"
MODEL="${2:-${CLINRAG_HOME:-.clinrag}/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
VENV="${CUDA_VENV:-/tmp/cuda-venv}"
OUT=target/gpu

build() {
  python3 -m venv "$VENV"
  # nvcc/crt/runtime pinned to the driver's 13.0 line; cuBLAS/cuRAND 13.x run on it (minor-version compatibility).
  "$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" \
    "nvidia-cuda-cccl==13.0.*" nvidia-cublas nvidia-curand
  local site nvcc root; site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  nvcc="$(find "$site/nvidia" -type f -name nvcc | head -n1)"; root="$(dirname "$(dirname "$nvcc")")"
  [ -x "$nvcc" ] || { echo "nvcc not found under $site/nvidia" >&2; exit 1; }
  export CUDA_ROOT="$root" CUDA_PATH="$root" PATH="$root/bin:$PATH" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
  export LD_LIBRARY_PATH="$(find "$site/nvidia" -type d -name lib | paste -sd:):${LD_LIBRARY_PATH:-}"
  export LIBRARY_PATH="$LD_LIBRARY_PATH"
  cargo build --release -p clinrag --bin clinrag --features clinrag-llm-runtime/cuda
  mkdir -p "$OUT" && cp target/release/clinrag "$OUT/clinrag" && strip "$OUT/clinrag"
  ls -l "$OUT/clinrag"
}

run() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$OUT/clinrag" --json bench llm --model "$MODEL" --cuda 0 --runs 3 --max-tokens 128
}

case "$MODE" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: $0 [build|run|all] [MODEL]" >&2; exit 2 ;;
esac
