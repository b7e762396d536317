"""Adapters register themselves: suites, policies, policy schemes, serve codecs and CLI subcommands are
found in the adapter packages (their ``SUITES`` / ``POLICIES`` / ... mappings) and through entry points;
the core names none of them."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

from vla_eval import cli, codecs, policy, suite
from vla_eval.errors import UsageError
from vla_eval.registry import Registry

ROOT = Path(__file__).resolve().parents[1]

BUILTIN_POLICIES = {"noop", "random", "scripted_libero", "scripted_simpler", "qwen_vla", "replay"}


class FakeEntryPoint:
    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value


@pytest.fixture
def entry_points(monkeypatch):
    """Fake installed distributions: {group: {name: "module:Attr"}} seen by importlib.metadata.entry_points."""
    groups: dict[str, dict[str, str]] = {}

    def fake(**kw):
        return [FakeEntryPoint(n, v) for n, v in groups.get(kw.get("group"), {}).items()]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    return groups


def fresh(monkeypatch, module, attr: str) -> Registry:
    """Replace a discovered registry by an undiscovered one with the same discovery."""
    old = getattr(module, attr)
    new = Registry(old.kind, old.discovery)
    monkeypatch.setattr(module, attr, new)
    return new


def test_policy_packages_declare_the_builtin_names():
    assert set(policy.POLICIES.names()) == BUILTIN_POLICIES
    assert policy.POLICY_SCHEMES.names() == ["openpi"]
    from vla_eval.policies.baselines import NoopPolicy

    assert policy.resolve_policy_class("noop") is NoopPolicy


def test_a_third_party_policy_is_found_by_name(monkeypatch, entry_points):
    entry_points["vla_eval.policies"] = {"thirdparty_noop": "tests.toy_policies:ToyExpert"}
    fresh(monkeypatch, policy, "POLICIES")
    from tests.toy_policies import ToyExpert

    assert policy.resolve_policy_class("thirdparty_noop") is ToyExpert
    assert {"thirdparty_noop"} | BUILTIN_POLICIES == set(policy.POLICIES.names())
    with pytest.raises(UsageError) as e:
        policy.resolve_policy_class("nope")
    known = ", ".join(sorted(BUILTIN_POLICIES | {"thirdparty_noop"}))
    assert str(e.value) == f"unknown policy 'nope' (known: {known})"


def test_unknown_policy_error_lists_the_known_names():
    with pytest.raises(UsageError) as e:
        policy.load_policy("nope")
    assert str(e.value) == f"unknown policy 'nope' (known: {', '.join(sorted(BUILTIN_POLICIES))})"


def test_a_third_party_policy_scheme(monkeypatch, entry_points):
    entry_points["vla_eval.policy_schemes"] = {"myproto": "tests.toy_policies:ToyExpert"}
    fresh(monkeypatch, policy, "POLICY_SCHEMES")
    from tests.toy_policies import ToyExpert

    assert policy.resolve_policy_class("myproto://host:1") is ToyExpert
    assert policy.resolve_policy_class("openpi://host:1").__name__ == "OpenpiPolicy"


def test_a_third_party_suite_is_found_by_name(monkeypatch, entry_points):
    entry_points["vla_eval.suites"] = {"toy_reach_copy": "vla_eval.suites.toy.suite:ToySuite"}
    fresh(monkeypatch, suite, "SUITES")
    assert "toy_reach_copy" in suite.suite_names() and "libero_spatial" in suite.suite_names()
    from vla_eval.suites.toy.suite import ToySuite

    assert suite.SUITES.get("toy_reach_copy") is ToySuite


def test_serve_codec_comes_from_the_openpi_package():
    from vla_eval.policies.openpi import mapping

    codec = codecs.get_codec()
    assert codec is mapping.CODEC
    assert (codec.episode_key, codec.step_key) == ("vla_eval/episode_id", "vla_eval/step")
    assert codec.mapping_for_embodiment("franka_libero").name == "libero"
    with pytest.raises(UsageError, match="unknown serve codec 'nope'"):
        codecs.get_codec("nope")


def test_adapter_commands(monkeypatch, entry_points, capsys):
    from vla_eval.policies.qwen_vla.commands import make_tiny_qwen_vla

    cmds = cli.commands()
    assert cmds["make-tiny-qwen-vla"] is make_tiny_qwen_vla
    assert list(cmds)[: len(cli.COMMANDS)] == list(cli.COMMANDS)

    entry_points["vla_eval.commands"] = {
        "hello": "tests.toy_policies:ToyExpert",
        "run": "tests.toy_policies:ToyExpert",  # a core name: ignored
        "broken": "no_such_module_xyz:main",  # cannot be imported: left out
    }
    fresh(monkeypatch, cli, "ADAPTER_COMMANDS")
    cmds = cli.commands()
    assert cmds["hello"].__name__ == "ToyExpert"
    assert cmds["run"] is cli.RunConfig and "broken" not in cmds
    err = capsys.readouterr().err
    assert "'run' of an adapter package is ignored" in err and "'broken' left out" in err


def test_make_tiny_qwen_vla_through_the_cli(tmp_path, monkeypatch, capsys):
    """Same command name and flags as when it was a core command (the builder itself: test_qwen_vla.py)."""
    import sys
    import types

    calls = []

    def make_tiny_checkpoint(out_dir, **kw):
        calls.append((out_dir, kw))
        return out_dir

    monkeypatch.setitem(
        sys.modules, "vla_eval.policies.qwen_vla.tiny", types.SimpleNamespace(make_tiny_checkpoint=make_tiny_checkpoint)
    )
    monkeypatch.setitem(
        sys.modules, "vla_eval.policies.qwen_vla.checkpoint", types.SimpleNamespace(checkpoint_sha256=lambda p: "abc")
    )
    out = tmp_path / "tiny"
    args = ["make-tiny-qwen-vla", str(out), "--embodiments", "point2d", "--seed", "1", "--backbone", "qwen3_vl"]
    with pytest.raises(SystemExit) as e:
        cli.main([*args, "--image-size", "32", "--template-image-sizes", "--overwrite"])
    assert e.value.code == 0
    assert calls == [
        (
            out,
            dict(
                seed=1,
                backbone="qwen3_vl",
                embodiments=("point2d",),
                image_size=32,
                template_image_sizes=True,
                overwrite=True,
            ),
        )
    ]
    assert f"wrote tiny Qwen-VLA checkpoint (qwen3_vl) to {out}  abc" in capsys.readouterr().out


def test_make_tiny_qwen_vla_help_in_a_fresh_interpreter():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "make-tiny-qwen-vla", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    assert "--backbone" in r.stdout and "--template-image-sizes" in r.stdout and "warning" not in r.stderr


def core_modules():
    return sorted(p for p in (ROOT / "vla_eval").rglob("*.py") if "__pycache__" not in p.parts)


def test_the_core_names_no_adapter():
    """No core module imports a suite or policy package, or registers one by its "module:Attr" string."""
    adapter = re.compile(r"^vla_eval\.(suites|policies)\.\w+")
    problems = []
    for path in core_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and adapter.match(node.module):
                problems.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                problems += [f"{path.name}: import {a.name}" for a in node.names if adapter.match(a.name)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and adapter.match(node.value):
                if ":" in node.value.split()[0]:
                    problems.append(f"{path.name}: {node.value!r}")
    assert not problems, problems
