#!/usr/bin/env bash
# Run by `vla-eval env create simpler_widowx` (cwd: this folder, VLA_EVAL_ENV_DIR: the new env).
#  1. CPU Vulkan (lavapipe + the wrapper ICD) unless an NVIDIA GPU is present;
#  2. ManiSkill2_real2sim from a source folder (see env.toml), installed from a scratch copy
#     (pip writes build/ into the folder it installs from; the source may be read-only);
#  3. the source's data/ folder is recorded in the env (vla-eval-real2sim-data) for the suites.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ENV_DIR="${VLA_EVAL_ENV_DIR:?run through vla-eval env create}"
PY="$ENV_DIR/bin/python"
COMMIT=ef7a4d4fdf4b69f2c2154db5b15b9ac8dfe10682

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: NVIDIA GPU found; CPU Vulkan (lavapipe) not set up"
else
  bash "$HERE/../../sapien_render/setup_lavapipe.sh"
fi

src="${VLA_EVAL_REAL2SIM_SRC:-}"
if [ -z "$src" ]; then
  repo="$(cd "$HERE/../../.." && pwd)"   # a source checkout: suites/simpler/real2sim -> repo root
  cand="$repo/../shared/assets/simpler_real2sim"
  [ -f "$cand/setup.py" ] && src="$(cd "$cand" && pwd)"
fi
if [ -n "$src" ]; then
  [ -f "$src/setup.py" ] || { echo "setup: $src holds no ManiSkill2_real2sim (no setup.py)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cp -r "$src/setup.py" "$src/requirements.txt" "$src/mani_skill2_real2sim" "$tmp/"
  [ -f "$src/pyproject.toml" ] && cp "$src/pyproject.toml" "$tmp/"
  "$PY" -m pip install --disable-pip-version-check -q "$tmp"
  if [ -d "$src/data" ]; then
    echo "$src/data" >"$ENV_DIR/vla-eval-real2sim-data"
  fi
  echo "setup: ManiSkill2_real2sim installed from $src"
else
  "$PY" -m pip install --disable-pip-version-check -q \
    "mani_skill2_real2sim @ git+https://github.com/simpler-env/ManiSkill2_real2sim.git@$COMMIT"
  echo "setup: ManiSkill2_real2sim installed from git without its data/: clone it with git lfs and set" \
       "VLA_EVAL_SIMPLER_DATA to the clone's data/ folder" >&2
fi
