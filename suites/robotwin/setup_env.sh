#!/usr/bin/env bash
# `vla-eval env create robotwin_easy` (or robotwin_hard): RoboTwin 2.0, branch stable_2.0 at a pinned
# commit. NOT YET RUN against the simulator (see setup_upstream.sh).
export UPSTREAM_REPO=https://github.com/RoboTwin-Platform/RoboTwin.git
export UPSTREAM_COMMIT=13c3c47ff4312dd62484bcd51be034af55c062d1   # stable_2.0
export UPSTREAM_NAME=RoboTwin
export VLA_EVAL_SUITE="${VLA_EVAL_SUITE:-robotwin_easy}"
exec bash "$(dirname "$0")/setup_upstream.sh"
