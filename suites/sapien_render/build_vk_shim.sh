#!/usr/bin/env bash
# Build the wrapper Vulkan ICD (vk_shim.c) over a lavapipe made by setup_lavapipe.sh, and write
# its ICD manifest. SAPIEN 2.2.2 and 3.0.0b1 render on lavapipe only through it (they ask for
# VK_KHR_external_semaphore_fd, which lavapipe lacks); SAPIEN 3.0.3 needs no wrapper.
#
# Usage: build_vk_shim.sh [CACHE_DIR]   (the lavapipe cache; same default as setup_lavapipe.sh)
# Needs: a C compiler (cc) and the Vulkan headers (Debian: libvulkan-dev). Idempotent: rebuilt
# only when vk_shim.c changed. Writes CACHE_DIR/vk_shim/{libvla_eval_vk_shim.so,vk_shim_icd.json}.
# Then: VK_ICD_FILENAMES=CACHE_DIR/vk_shim/vk_shim_icd.json and LD_LIBRARY_PATH as for lavapipe.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${1:-${VLA_EVAL_LAVAPIPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vla-eval/lavapipe}}"
SRC="$HERE/vk_shim.c"
OUT="$CACHE/vk_shim"

if [ ! -f "$CACHE/.complete" ] || [ ! -f "$CACHE/lvp_icd.json" ]; then
  echo "build_vk_shim: no lavapipe in $CACHE; run setup_lavapipe.sh first" >&2
  exit 1
fi
real="$(sed -nE 's/.*"library_path"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/p' "$CACHE/lvp_icd.json" | head -n 1)"
api="$(sed -nE 's/.*"api_version"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/p' "$CACHE/lvp_icd.json" | head -n 1)"
[ -f "$real" ] || { echo "build_vk_shim: lavapipe library $real not found" >&2; exit 1; }

CC="${CC:-cc}"
command -v "$CC" >/dev/null 2>&1 || { echo "build_vk_shim: needs a C compiler ($CC); Debian: apt-get install gcc" >&2; exit 1; }
inc=""
for d in ${VULKAN_INCLUDE_DIR:-} /usr/include /usr/local/include; do
  [ -f "$d/vulkan/vk_icd.h" ] && { inc="$d"; break; }
done
[ -n "$inc" ] || { echo "build_vk_shim: Vulkan headers (vulkan/vk_icd.h) not found; Debian: apt-get install libvulkan-dev" >&2; exit 1; }

stamp="$(sha256sum "$SRC" | cut -c1-16) $real"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ] && [ -f "$OUT/vk_shim_icd.json" ]; then
  echo "vk_shim already built in $OUT"
  exit 0
fi
mkdir -p "$OUT"
lib="$OUT/libvla_eval_vk_shim.so"
"$CC" -O2 -shared -fPIC -fvisibility=hidden -Wall -I"$inc" -DREAL_ICD_DEFAULT="\"$real\"" \
  -o "$lib.tmp" "$SRC" -ldl -lpthread
mv "$lib.tmp" "$lib"
cat >"$OUT/vk_shim_icd.json" <<JSON
{
    "file_format_version": "1.0.0",
    "ICD": {
        "library_path": "$lib",
        "api_version": "${api:-1.3.0}"
    }
}
JSON
echo "$stamp" >"$OUT/.stamp"
echo "build_vk_shim: wrapper ICD over $real ready: VK_ICD_FILENAMES=$OUT/vk_shim_icd.json"
