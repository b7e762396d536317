#!/usr/bin/env bash
# `vla-eval env create domino`: H-EmbodVis/DOMINO at a pinned commit, installed with RoboTwin's
# recipe (DOMINO's script/_install.sh is RoboTwin's with cuRobo unpinned; cuRobo v0.7.8 here).
# NOT YET RUN against the simulator (see ../robotwin/setup_upstream.sh).
export UPSTREAM_REPO=https://github.com/H-EmbodVis/DOMINO.git
export UPSTREAM_COMMIT=9fd12713f441dee7bdfb2e04a96fb46296598494
export UPSTREAM_NAME=DOMINO
export VLA_EVAL_SUITE="${VLA_EVAL_SUITE:-domino}"
exec bash "$(dirname "$0")/../robotwin/setup_upstream.sh"
