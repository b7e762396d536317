"""LIBERO set-up checks that need no simulator: GL backend choice, missing packages."""

import importlib.util

import pytest

from vla_eval import gl
from vla_eval.errors import SimulatorUnavailable
from vla_eval.suite import get_suite


def test_egl_first_then_osmesa(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    tried = []
    monkeypatch.setattr(gl, "probe_gl", lambda b: tried.append(b) or b == "osmesa")
    assert gl.choose_gl_backend() == "osmesa" and tried == ["egl", "osmesa"]


def test_no_gl_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(gl, "probe_gl", lambda b: False)
    with pytest.raises(SimulatorUnavailable) as e:
        gl.choose_gl_backend()
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install libegl1 libgl1-mesa-dri" in msg and "libosmesa6" in msg


def test_user_backend_is_respected(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "glfw")
    monkeypatch.setattr(gl, "probe_gl", lambda b: False)
    with pytest.raises(SimulatorUnavailable, match="MUJOCO_GL=glfw does not render here"):
        gl.choose_gl_backend()


def test_missing_libero_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "libero" else real(m, *a))
    s = get_suite("libero_object")
    ok, why = s.availability()
    assert not ok and "pip install 'vla-evalkit[libero]'" in why and "\n" not in why
    with pytest.raises(SimulatorUnavailable, match="LIBERO is not installed here"):
        s.prepare()
