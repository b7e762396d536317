#!/usr/bin/env bash
# Run by `vla-eval env create r2r_val_unseen` (or r2r_val_seen / rxr_val_unseen) after the conda
# environment and the pip requirements of env.toml. NOT YET RUN against the simulator.
#   1. the VLN-CE episodes (VLN-CE README, 'Data'), from their Google Drive files with gdown, into
#      <env>/data/datasets: R2R_VLNCE_v1-3_preprocessed (~250 MB) and RxR_VLNCE_v0
#   2. the Matterport3D scenes are licensed: when <env>/data/scene_datasets/mp3d is missing this stops
#      with the command to run once download_mp.py has been obtained
set -euo pipefail
: "${VLA_EVAL_ENV_DIR:?run through vla-eval env create}"
SUITE="${VLA_EVAL_SUITE:-r2r_val_unseen}"
DATA="$VLA_EVAL_ENV_DIR/data/datasets"
SCENES="$VLA_EVAL_ENV_DIR/data/scene_datasets"
mkdir -p "$DATA" "$SCENES"
command -v unzip >/dev/null 2>&1 || { echo "error: unzip is not installed; then run: apt-get install unzip && vla-eval env create $SUITE" >&2; exit 3; }

fetch() {  # fetch NAME GDRIVE_ID: download NAME.zip and unpack it into $DATA
  local name="$1" id="$2"
  [ -d "$DATA/$name" ] && return 0
  (cd "$DATA" && "$VLA_EVAL_ENV_DIR/bin/gdown" "$id" -O "$name.zip" && unzip -q "$name.zip" && rm -f "$name.zip") || {
    echo "error: downloading $name failed; then run: cd $DATA && $VLA_EVAL_ENV_DIR/bin/gdown $id -O $name.zip && unzip $name.zip" >&2
    exit 3
  }
}
fetch R2R_VLNCE_v1-3_preprocessed 1fo8F4NKgZDH-bPSdVU3cONAkt5EW-tyr
fetch RxR_VLNCE_v0 145xzLjxBaNTbVgBfQ8e9EsBAV8W-SM0t

if [ ! -d "$SCENES/mp3d" ]; then
  echo "error: the Matterport3D scenes are not in $SCENES/mp3d (licensed: accept the Matterport3D terms to get download_mp.py);" >&2
  echo "then run: python2.7 download_mp.py --task habitat -o $SCENES/mp3d/ && vla-eval env create $SUITE" >&2
  exit 3
fi
echo "VLN-CE data in $VLA_EVAL_ENV_DIR/data; check it with: vla-eval doctor $SUITE" >&2
