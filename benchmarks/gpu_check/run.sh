#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repository root, with .whl/ (from prepare.sh) carried along:
#   bash benchmarks/gpu_check/run.sh [OUT_DIR [ARGS...]]     (ARGS go to python -m benchmarks.gpu_check)
# Installs the carried wheels and vla-evalkit itself (no dependencies, no index) into a private
# folder, then runs the check within 8 minutes; the table goes to stdout and OUT_DIR/gpu_check.log,
# the figures to OUT_DIR/gpu_check.json (OUT_DIR defaults to $OUT, else the current folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
out_dir="$(mkdir -p "${1:-${OUT:-.}}" && cd "${1:-${OUT:-.}}" && pwd)"
site="${TMPDIR:-/tmp}/gpu-check-site"
pip_install() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$@"; }
shopt -s nullglob
# GL loaders (EGL through glvnd) where the image lacks them: Debian packages carried in .gl/.
debs=(.gl/*.deb)
if [ ${#debs[@]} -gt 0 ]; then for f in "${debs[@]}"; do dpkg -x "$f" /; done; ldconfig; fi
wheels=(.whl/*.whl)
if [ ${#wheels[@]} -gt 0 ]; then pip_install "${wheels[@]}"; fi
pip_install --no-build-isolation .
export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
cd "$site"  # so that the installed vla_eval (with its suites and policies) is the one imported
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 MUJOCO_GL="${MUJOCO_GL:-egl}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
set -o pipefail
timeout 480 python3 -m benchmarks.gpu_check --json "$out_dir/gpu_check.json" --budget-s 420 "${@:2}" 2>&1 | tee "$out_dir/gpu_check.log"
