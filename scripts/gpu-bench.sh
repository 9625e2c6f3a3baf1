#!/usr/bin/env bash
# GPU benchmark of the local LLM runtime (candle CUDA build): prefill/decode tokens/s of the default model.
#
#   scripts/gpu-bench.sh build        # here (Rust + PyPI): CUDA toolchain from PyPI, release build of the
#                                     # llm-runtime bench with --features cuda, packed into target/gpu/
#   scripts/gpu-bench.sh run          # on the GPU machine (carry target/gpu/): runs the bench, writes $OUT
#   scripts/gpu-bench.sh              # both, when one machine has Rust, the toolchain and a GPU
#
# The lent GPU machines have driver 580 (CUDA 13.0) but no Rust, no network and a 64 MiB transfer
# limit. So: the CUDA compiler comes from PyPI (13.0 line, matching the driver), the binary is built
# here and stripped, and the model travels as its GGUF header only (metadata, tokenizer, tensor table:
# llm-runtime/scripts/gguf_skeleton.py); `run` rebuilds a same-shape file with zero weights. GPU
# kernels take the same time whatever the weight values, so the speed figures hold for the real
# file; the generated text is meaningless. When the real model is present (MODEL=...), it is used.
# The memory-bandwidth limit is measured on the GPU with PyTorch (device-to-device copy).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-all}"
MODEL="${MODEL:-${CLINRAG_HOME:-.clinrag}/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
VENV="${CUDA_VENV:-/tmp/cuda-venv}"
PACK=target/gpu
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_GPU:-target/cuda}"

build() {
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  # nvcc/crt/runtime/nvvm pinned (nvvm 13.5 writes PTX 9.5, which ptxas 13.0 rejects) to the driver's 13.0 line; cuBLAS/cuRAND 13.x run on it (minor-version compatibility).
  "$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" \
    "nvidia-cuda-cccl==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
    "nvidia-cublas==13.*" "nvidia-curand==10.*"
  local site nvcc root; site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  nvcc="$(find "$site/nvidia" -type f -name nvcc | head -n1)"; root="$(dirname "$(dirname "$nvcc")")"
  [ -x "$nvcc" ] || { echo "nvcc not found under $site/nvidia" >&2; exit 1; }
  export CUDA_ROOT="$root" CUDA_PATH="$root" PATH="$root/bin:$PATH" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
  export LD_LIBRARY_PATH="$(find "$site/nvidia" -type d -name lib | paste -sd:):${LD_LIBRARY_PATH:-}"
  export LIBRARY_PATH="$LD_LIBRARY_PATH"
  # candle's CUDA build links cudarc dynamically: the linker wants unversioned names and libcuda.so, which
  # comes with the driver (absent here). Link against a stub with libcuda's SONAME; the GPU machine's
  # driver provides the real one at run time.
  local lib="$root/lib" sys
  for l in "$lib"/lib*.so.*; do b="$(basename "$l")"; ln -sf "$b" "$lib/${b%%.so.*}.so"; done
  sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | tail -n1)"
  grep -oE '(fn |link_name = ")cu[A-Za-z0-9_]+' "$sys" | sed -E 's/^(fn |link_name = ")//' | sort -u \
    | awk '{print "void " $1 "(void) {}"}' > "$CARGO_TARGET_DIR/cuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/libcuda.so" "$CARGO_TARGET_DIR/cuda_stub.c"
  cargo build --release -p clinrag-llm-runtime --example bench --features cuda
  mkdir -p "$PACK"
  cp "$CARGO_TARGET_DIR/release/examples/bench" "$PACK/bench" && strip "$PACK/bench"
  gzip -9 -f "$PACK/bench"   # 60 MB -> 15 MB, under the transfer limit
  python3 llm-runtime/scripts/gguf_skeleton.py pack "$MODEL" "$PACK/model.head"
  cp llm-runtime/scripts/gguf_skeleton.py "$PACK/"
  du -sh "$PACK"/*
}

run() {
  local out="${OUT:-$PACK/out}" model="$MODEL"
  mkdir -p "$out"
  if [ ! -x "$PACK/bench" ]; then
    python3 -c 'import gzip,shutil,sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$PACK/bench.gz" "$out/bench"
    chmod +x "$out/bench"; BENCH="$out/bench"
  fi
  local bench="${BENCH:-$PACK/bench}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.csv"
  # cudarc loads cuBLAS/cuRAND/NVRTC at run time: use whatever CUDA libraries the machine has (PyTorch's wheels).
  local libs; libs="$(find /usr /opt /lib /lib64 /root /home /venv -xdev \( -name 'libcublas*.so*' -o -name 'libcurand.so*' -o -name 'libnvrtc.so*' -o -name 'libcudart.so*' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd: || true)"
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "CUDA libraries from: $libs" | tee "$out/libs.txt"
  ldd "$bench" | tee -a "$out/libs.txt"
  if [ ! -f "$model" ]; then
    model="$out/model-zero.gguf"
    python3 "$PACK/gguf_skeleton.py" unpack "$PACK/model.head" "$model"
  fi
  python3 - <<'PY' | tee "$out/bandwidth.json" || true
import json, time, torch
x = torch.empty(1 << 28, dtype=torch.float32, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); t = time.perf_counter(); n = 20
for _ in range(n): y.copy_(x)
torch.cuda.synchronize(); dt = time.perf_counter() - t
print(json.dumps({"copy_gb_s": 2 * x.numel() * 4 * n / dt / 1e9, "device": torch.cuda.get_device_name(0)}))
PY
  for t in 128 512; do
    "$bench" "$model" --cuda 0 --requantize off --runs 3 --max-tokens "$t" 2>"$out/cuda-$t.err" | tee "$out/cuda-$t.json" || tail -5 "$out/cuda-$t.err"
  done
  # The same binary on the GPU machine's CPU (16 cores) for reference.
  CANDLE_NUM_THREADS=8 "$bench" "$model" --threads 8 --runs 3 --max-tokens 64 | tee "$out/cpu-8t.json" || true
  rm -f "$out/model-zero.gguf" "$out/bench"
}

case "$MODE" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: $0 [build|run|all]" >&2; exit 2 ;;
esac
