#!/usr/bin/env bash
# The install recipe of RoboTwin 2.0 and of DOMINO (its fork), run by `vla-eval env create` after the
# pip requirements of env.toml, through setup_env.sh (which sets UPSTREAM_* below). It follows the
# upstream script/_install.sh and script/_download_assets.sh with pinned versions.
# NOT YET RUN against the simulator: it needs an NVIDIA GPU, the CUDA toolkit (nvcc) and network
# access to GitHub and the Hugging Face hub, none of which the project's machines have.
#
#   1. clone the upstream repository at a pinned commit into $VLA_EVAL_ENV_DIR/src/<name>
#      (the suite finds it there; ROBOTWIN_ROOT / DOMINO_ROOT override)
#   2. pytorch3d v0.7.8 from source, built against the env's torch (2.4.1, CUDA 12.1 wheels)
#   3. the two edits _install.sh makes: sapien's URDF loader opens files as UTF-8; mplib's screw
#      planner no longer gives up on collisions (the expert's seed list depends on it)
#   4. cuRobo v0.7.8 from source into <checkout>/envs/curobo (editable, no build isolation), then
#      warp-lang 1.12.0 and setuptools 69.5.1 as RoboTwin's _install.sh pins them
#   5. the assets (embodiments, objects, background textures: the TianxingChen/RoboTwin2.0 hub
#      dataset, several GB) with the upstream script/_download_assets.sh, which also writes the
#      embodiment configs (script/update_embodiment_config_path.py)
# A step that cannot run stops with the one command to run by hand.
set -euo pipefail
: "${VLA_EVAL_ENV_DIR:?run through vla-eval env create}"
: "${UPSTREAM_REPO:?}" "${UPSTREAM_COMMIT:?}" "${UPSTREAM_NAME:?}"
PY="$VLA_EVAL_ENV_DIR/bin/python"
SRC="$VLA_EVAL_ENV_DIR/src/$UPSTREAM_NAME"
PIP=("$PY" -m pip install --disable-pip-version-check)
export PATH="$VLA_EVAL_ENV_DIR/bin:$PATH"   # upstream scripts call `python`

stop() { echo "error: $1" >&2; echo "then run: $2" >&2; exit 3; }

for tool in git unzip; do
  command -v "$tool" >/dev/null 2>&1 || stop "$tool is not installed" "apt-get install $tool && vla-eval env create $VLA_EVAL_SUITE"
done
command -v nvcc >/dev/null 2>&1 || stop "nvcc (the CUDA toolkit, 12.x to match torch 2.4.1's CUDA 12.1) is not on PATH: pytorch3d and cuRobo are compiled here" \
  "export PATH=/usr/local/cuda/bin:\$PATH && vla-eval env create $VLA_EVAL_SUITE"

# 1. the checkout
if [ ! -d "$SRC/.git" ]; then
  mkdir -p "$(dirname "$SRC")"
  git clone --quiet "$UPSTREAM_REPO" "$SRC"
fi
git -C "$SRC" fetch --quiet origin "$UPSTREAM_COMMIT" 2>/dev/null || true
git -C "$SRC" checkout --quiet "$UPSTREAM_COMMIT"

# 2. pytorch3d (upstream: the stable branch / HEAD; pinned to the release here)
"$PY" -c "import pytorch3d" 2>/dev/null || "${PIP[@]}" --no-build-isolation "git+https://github.com/facebookresearch/pytorch3d.git@v0.7.8"

# 3. upstream's edits of sapien and mplib (the same sed expressions as _install.sh)
SAPIEN_DIR="$("$PY" -m pip show sapien | awk '/^Location:/{print $2}')/sapien"
MPLIB_DIR="$("$PY" -m pip show mplib | awk '/^Location:/{print $2}')/mplib"
sed -i -E 's/("r")(\))( as)/\1, encoding="utf-8") as/g' "$SAPIEN_DIR/wrapper/urdf_loader.py"
sed -i -E 's/(if np.linalg.norm\(delta_twist\) < 1e-4 )(or collide )(or not within_joint_limit:)/\1\3/g' "$MPLIB_DIR/planner.py"

# 4. cuRobo, built against the env's torch
if ! "$PY" -c "import curobo" 2>/dev/null; then
  [ -d "$SRC/envs/curobo/.git" ] || git clone --quiet --branch v0.7.8 --depth 1 https://github.com/NVlabs/curobo.git "$SRC/envs/curobo"
  (cd "$SRC/envs/curobo" && "${PIP[@]}" -e . --no-build-isolation)
  "${PIP[@]}" warp-lang==1.12.0 setuptools==69.5.1
fi

# 5. the assets
if [ ! -d "$SRC/assets/objects" ] || [ ! -d "$SRC/assets/embodiments" ] || [ ! -d "$SRC/assets/background_texture" ]; then
  (cd "$SRC" && bash script/_download_assets.sh) || stop "the asset download from the Hugging Face hub failed" \
    "cd $SRC && PATH=$VLA_EVAL_ENV_DIR/bin:\$PATH bash script/_download_assets.sh"
fi
echo "$UPSTREAM_NAME is installed in $SRC; check it with: vla-eval doctor $VLA_EVAL_SUITE" >&2
