"""Environment recipes: the conda kind (VLN-CE's habitat-sim) is parsed, and without conda on PATH
`vla-eval env create` stops with one line naming what to install and the command it would run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vla_eval import envs
from vla_eval.errors import UsageError
from vla_eval.suite import get_suite


def test_vlnce_recipe_is_a_conda_environment():
    spec = envs.env_spec(get_suite("r2r_val_unseen"))
    assert spec is not None and spec.conda_env is not None
    cmd = spec.conda_env.create_command("conda", Path("/x/vlnce"))
    assert cmd == [
        "conda",
        "create",
        "-y",
        "-p",
        "/x/vlnce",
        "-c",
        "conda-forge",
        "-c",
        "aihabitat",
        "python=3.11",
        "habitat-sim=0.3.4",
        "headless",
    ]
    # the recipe is part of the environment's digest: changing it rebuilds
    other = envs.EnvSpec(spec.key, spec.folder, spec.requirements, spec.setup, spec.conda, spec.notes, None)
    assert other.digest != spec.digest
    # suites of one folder share the environment
    assert envs.env_spec(get_suite("rxr_val_unseen")).key == spec.key == "vlnce"


def test_env_create_without_conda_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VLA_EVAL_ENVS", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(UsageError) as e:
        envs.create("r2r_val_unseen")
    msg = str(e.value)
    assert "\n" not in msg and "no mamba/conda/micromamba is on PATH" in msg
    assert "habitat-sim=0.3.4 headless" in msg
    assert not (tmp_path / "vlnce").exists()  # nothing built


@pytest.mark.parametrize("suite", ["robotwin_easy", "domino"])
def test_robotwin_recipes_are_venvs_with_a_setup_script(suite):
    spec = envs.env_spec(get_suite(suite))
    assert spec.conda_env is None and spec.setup == "setup_env.sh"
    assert (spec.folder / spec.setup).is_file()
