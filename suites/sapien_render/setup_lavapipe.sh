#!/usr/bin/env bash
# Mesa >= 25 lavapipe (CPU Vulkan) for SAPIEN 3 rendering, in a private folder.
#
# SAPIEN 3.0.3 renders on CPU only with Mesa >= 25 lavapipe: Debian bookworm's stock Mesa 22.3
# lacks descriptorBindingPartiallyBound ('Failed to find a supported physical device "cpu"').
# This script fetches bookworm-backports' mesa-vulkan-drivers 25.0.x and libdrm2 /
# libdrm-amdgpu1 2.4.123 with a private apt sources list (the system's apt state is not
# touched), unpacks them with dpkg-deb -x, and writes a copy of lvp_icd json whose
# library_path is absolute. Idempotent: a finished cache is left as it is.
#
# Usage: setup_lavapipe.sh [CACHE_DIR]
#   CACHE_DIR defaults to $VLA_EVAL_LAVAPIPE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/vla-eval/lavapipe.
#   The Debian mirror is the one this machine's apt already uses (override: LAVAPIPE_DEBIAN_MIRROR).
# Then workers need:
#   VK_ICD_FILENAMES=$CACHE_DIR/lvp_icd.json
#   LD_LIBRARY_PATH=$CACHE_DIR/root/usr/lib/x86_64-linux-gnu
# (vla_eval.suites.sapien_render.render_env() sets both when this cache exists).
# It then builds the wrapper ICD (build_vk_shim.sh) when a C compiler and the Vulkan headers are
# there: SAPIEN 2.2.2 and 3.0.0b1 need it on lavapipe, SAPIEN 3.0.3 does not.
set -euo pipefail

CACHE="${1:-${VLA_EVAL_LAVAPIPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vla-eval/lavapipe}}"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
case "$ARCH" in
  amd64) TRIPLET=x86_64-linux-gnu ;;
  arm64) TRIPLET=aarch64-linux-gnu ;;
  *) echo "setup_lavapipe: unsupported architecture $ARCH" >&2; exit 1 ;;
esac
PACKAGES="mesa-vulkan-drivers libdrm2 libdrm-amdgpu1"

HERE="$(cd "$(dirname "$0")" && pwd)"
shim() {
  if [ "${VLA_EVAL_SKIP_VK_SHIM:-}" = 1 ]; then return 0; fi
  bash "$HERE/build_vk_shim.sh" "$CACHE" || echo "setup_lavapipe: the wrapper ICD was not built (SAPIEN 2.2.2 / 3.0.0b1 will not render on lavapipe)" >&2
}
if [ -f "$CACHE/.complete" ] && [ -f "$CACHE/lvp_icd.json" ]; then
  echo "lavapipe already set up in $CACHE"
  shim
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup_lavapipe: needs $tool (Debian/Ubuntu)" >&2; exit 1; }
done

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # two workers or two installs at once wait for each other

if [ -f "$CACHE/.complete" ] && [ -f "$CACHE/lvp_icd.json" ]; then
  echo "lavapipe already set up in $CACHE"
  shim
  exit 0
fi

mirror="${LAVAPIPE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # The first Debian archive URI configured on this machine (deb822 or one-line format).
  mirror="$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}'
            { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
              | awk '/^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) {print $i; break}}' )"
  mirror="$(printf '%s\n' "$mirror" | grep -E '/debian/?$' | head -n 1 || true)"
fi
if [ -z "$mirror" ]; then
  echo "setup_lavapipe: no Debian mirror found in /etc/apt; set LAVAPIPE_DEBIAN_MIRROR to a Debian archive URL" >&2
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
signed=""
[ -f "$keyring" ] && signed="[signed-by=$keyring] "

work="$CACHE/apt"
rm -rf "$work" "$CACHE/debs" "$CACHE/root"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$CACHE/debs" "$CACHE/root"
echo "deb ${signed}${mirror%/} bookworm-backports main" >"$work/sources.list"
APT=(apt-get -q
     -o "Dir::Etc::sourcelist=$work/sources.list"
     -o "Dir::Etc::sourceparts=-"
     -o "Dir::State::Lists=$work/lists"
     -o "Dir::Cache=$work/cache"
     -o "APT::Get::List-Cleanup=0"
     -o "Debug::NoLocking=1")

echo "setup_lavapipe: fetching $PACKAGES from bookworm-backports ($mirror) into $CACHE"
"${APT[@]}" update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
(cd "$CACHE/debs" && "${APT[@]}" download $PACKAGES >"$work/download.log" 2>&1) \
  || { cat "$work/download.log" >&2; exit 1; }
for deb in "$CACHE"/debs/*.deb; do
  dpkg-deb -x "$deb" "$CACHE/root"
done

libdir="$CACHE/root/usr/lib/$TRIPLET"
lib="$libdir/libvulkan_lvp.so"
icd_src="$(ls "$CACHE"/root/usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n 1)"
if [ ! -f "$lib" ] || [ -z "$icd_src" ]; then
  echo "setup_lavapipe: the unpacked packages hold no libvulkan_lvp.so / lvp_icd json" >&2
  exit 1
fi
# The ICD json names its library relative to the system; point it at our copy.
sed -E "s#\"library_path\"[[:space:]]*:[[:space:]]*\"[^\"]*\"#\"library_path\": \"$lib\"#" "$icd_src" >"$CACHE/lvp_icd.json"
grep -q "\"$lib\"" "$CACHE/lvp_icd.json" || { echo "setup_lavapipe: could not rewrite $icd_src" >&2; exit 1; }
ver="$(dpkg-deb -f "$(ls "$CACHE"/debs/mesa-vulkan-drivers_*.deb | head -n 1)" Version)"
case "$ver" in
  2[5-9].*|[3-9][0-9].*) ;;
  *) echo "setup_lavapipe: got mesa-vulkan-drivers $ver; SAPIEN needs Mesa >= 25" >&2; exit 1 ;;
esac
cat >"$CACHE/env.sh" <<ENV
export VK_ICD_FILENAMES="$CACHE/lvp_icd.json"
export LD_LIBRARY_PATH="$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
echo "$ver" >"$CACHE/mesa_version"
touch "$CACHE/.complete"
echo "setup_lavapipe: Mesa $ver lavapipe ready in $CACHE (source $CACHE/env.sh)"
shim
