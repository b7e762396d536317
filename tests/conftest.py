import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Test policies are imported by path ("tests.toy_policies:ToyExpert"), as a user's would be.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Local Ray instances started by the tests run without token auth (a token left in ~/.ray by
# any earlier Ray session would otherwise switch it on for every later cluster in the process).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def libero_importable() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("libero", "robosuite", "mujoco"))


requires_libero = pytest.mark.skipif(not libero_importable(), reason="LIBERO is not installed")
