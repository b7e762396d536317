#!/usr/bin/env bash
# Kept for existing instructions: the CPU Vulkan setup of every SAPIEN suite lives in
# suites/sapien_render/ (lavapipe, and the wrapper ICD that SAPIEN 2.2.2 / 3.0.0b1 need).
exec bash "$(cd "$(dirname "$0")" && pwd)/../sapien_render/setup_lavapipe.sh" "$@"
