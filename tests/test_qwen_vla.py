"""Qwen-VLA: the checkpoint format, the loader's errors, the real forward path on a tiny random
checkpoint built at test time (batch 1 and 8), the per-suite embodiments, and the rollout loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.conftest import requires_libero  # noqa: E402
from vla_eval.cli import main as cli_main  # noqa: E402
from vla_eval.errors import UsageError  # noqa: E402
from vla_eval.ledger import EPISODES_FILE, read_rows  # noqa: E402
from vla_eval.policies.qwen_vla.checkpoint import checkpoint_sha256, inspect_checkpoint  # noqa: E402
from vla_eval.policies.qwen_vla.embodiments import TEMPLATES, embodiment_for  # noqa: E402
from vla_eval.policies.qwen_vla.spec import Gripper, Navigation, Normalizer, Problems  # noqa: E402
from vla_eval.policies.qwen_vla.tiny import make_tiny_checkpoint, tiny_decoder_config, tiny_embodiments  # noqa: E402
from vla_eval.policy import load_policy  # noqa: E402
from vla_eval.types import Observation  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("qwen_vla") / "tiny", seed=0)


@pytest.fixture(scope="module")
def franka(ckpt):
    return load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "franka_libero", "device": "cpu"})


def libero_obs(
    i: int, rng: np.random.Generator, instruction: str = "pick up the black bowl", step: int = 0
) -> Observation:
    return Observation(
        images={
            "agentview": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
            "wrist": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        },
        state=rng.normal(size=8).astype(np.float32),
        instruction=instruction + " now" * i,  # different lengths: right padding inside a batch
        embodiment="franka_libero",
        env_id=i,
        episode_id=f"episode-{i}",
        step=step,
    )


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as e:
        cli_main(list(args))
    return int(e.value.code or 0)


# --- format, conventions, per-suite embodiments (no model) ------------------------------
def test_every_suite_of_the_mission_has_a_valid_embodiment():
    cfg = tiny_decoder_config()
    embs = {e.name: e for e in tiny_embodiments(cfg)}
    for suite in (
        "libero_spatial",
        "libero_10",
        "simpler_widowx",
        "robocasa_gr1",
        "robotwin_easy",
        "robotwin_hard",
        "domino_clean_dynamic",
        "r2r_val_unseen",
        "rxr_val_unseen",
        "toy_reach",
    ):
        assert embodiment_for(suite) in embs
    # each embodiment serves the embodiment tag its suite puts in Observation.embodiment
    from vla_eval.suite import get_suite, suite_names

    for suite in suite_names():
        if embodiment_for(suite) in embs:
            assert get_suite(suite).protocol.embodiment in embs[embodiment_for(suite)].suite_tags, suite
    f = embs["franka_libero"]
    assert (f.action_dim, f.state_dim, f.control_mode, f.cameras) == (7, 8, "delta_eef", ("agentview", "wrist"))
    assert (f.gripper.env_open, f.gripper.env_close) == (-1.0, 1.0)
    assert embs["widowx_bridge"].action_dim == 7
    assert list(embs["gr1_arms_waist_fourier_hands"].action_groups.values()) == [7, 7, 6, 6, 3]
    assert embs["aloha_agilex"].action_dim == 14 and embs["aloha_agilex"].gripper.channels == (6, 13)
    assert embs["vln_r2r"].env_action_dim == 1 and embs["vln_r2r"].navigation.turn_step_deg == 15.0
    assert embs["vln_rxr"].navigation.turn_step_deg == 30.0
    assert embs["point2d"].action_dim == 2
    for e in embs.values():  # masks cover exactly the embodiment's channels
        assert e.action_mask.sum() == e.action_dim and e.state_mask.sum() == e.state_dim
        assert set(e.to_dict()) >= {"prompt", "action_mask", "normalization", "cameras", "image_size", "gripper"}
    assert set(TEMPLATES) == set(embs)


def test_normalizers_round_trip_and_clip():
    p = Problems()
    q = Normalizer.from_dict(
        {"mode": "q01_q99", "q01": [-2.0, 0.0, 5.0], "q99": [2.0, 1.0, 5.0], "mask": [1, 1, 1]}, 3, p, "x"
    )
    ms = Normalizer.from_dict(
        {"mode": "mean_std", "mean": [1.0, 2.0, 3.0], "std": [2.0, 0.5, 1.0], "mask": [1, 1, 0]}, 3, p, "x"
    )
    assert not p
    x = np.array([1.0, 0.25, 5.0], np.float32)
    np.testing.assert_allclose(q.normalize(x), [0.5, -0.5, 0.0], atol=1e-6)  # constant channel -> 0
    np.testing.assert_allclose(q.unnormalize(q.normalize(x)), x, atol=1e-5)
    np.testing.assert_allclose(q.unnormalize(np.array([3.0, -3.0, 0.0])), [2.0, 0.0, 5.0])  # clipped to [q01, q99]
    np.testing.assert_allclose(ms.normalize(x), [0.0, -3.5, 5.0], atol=1e-5)  # masked channel passes through
    np.testing.assert_allclose(ms.unnormalize(ms.normalize(x)), x, atol=1e-5)
    bad = Problems()
    Normalizer.from_dict({"mode": "q01_q99", "q01": [1.0], "q99": [0.0]}, 1, bad, "n")
    Normalizer.from_dict({"mode": "minmax"}, 1, bad, "n")
    Normalizer.from_dict({"mode": "mean_std", "mean": [0.0, 1.0], "std": [1.0]}, 2, bad, "n")
    assert (
        len(bad) == 3
        and "q99[0]" in bad[0]
        and "mode must be one of" in bad[1]
        and "has 1 values, expected 2" in bad[2]
    )


def test_gripper_conventions():
    # Bridge data (1 open, 0 closed) -> SimplerEnv WidowX (+1 open, -1 close), binarized
    g = Gripper((1,), model_open=1.0, model_close=0.0, env_open=1.0, env_close=-1.0, binarize=True)
    a = np.array([[0.3, 0.9], [0.3, 0.2], [0.3, 0.5001]], np.float32)
    np.testing.assert_allclose(g.to_env(a), [[0.3, 1.0], [0.3, -1.0], [0.3, 1.0]])
    # same convention on both sides, not binarized: identity
    libero = Gripper((0,), -1.0, 1.0, -1.0, 1.0)
    np.testing.assert_allclose(libero.to_env(np.array([[0.25]], np.float32)), [[0.25]])


def test_navigation_mapping_to_discrete_actions():
    nav = Navigation("discrete", {"STOP": 0, "MOVE_FORWARD": 1, "TURN_LEFT": 2, "TURN_RIGHT": 3}, 0.25, 15.0, 0.5)
    wp = np.array(
        [
            [0.25, 0.0, 0.0, 0.0],  # straight ahead -> forward
            [0.2, 0.2, 0.0, 0.0],  # 45 deg left -> turn left
            [0.2, -0.2, 0.0, 0.0],  # right -> turn right
            [0.0, 0.0, -0.5, 0.0],  # in place, yaw right -> turn right
            [0.25, 0.0, 0.0, 0.9],  # stop score above threshold -> stop
        ],
        np.float32,
    )
    assert nav.to_env(wp)[:, 0].tolist() == [1, 2, 3, 3, 0]
    way = Navigation("waypoint")
    np.testing.assert_allclose(way.to_env(wp)[-1], [0.25, 0.0, 0.0, 1.0])


# --- the tiny checkpoint and the CLI ----------------------------------------------------
def test_make_tiny_cli_writes_the_documented_layout(tmp_path, capsys):
    out = tmp_path / "ck"
    assert run_cli("make-tiny-qwen-vla", str(out), "--embodiments", "point2d", "franka_libero") == 0
    assert checkpoint_sha256(out) in capsys.readouterr().out
    for f in (
        "backbone/config.json",
        "backbone/model.safetensors",
        "backbone/tokenizer.json",
        "backbone/tokenizer_config.json",
        "backbone/preprocessor_config.json",
        "action_decoder/config.json",
        "action_decoder/model.safetensors",
        "embodiments.json",
    ):
        assert (out / f).is_file(), f
    assert not [p for p in out.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    info = inspect_checkpoint(out)
    assert info.backbone_type == "qwen3_5" and sorted(info.embodiments) == ["franka_libero", "point2d"]
    doc = json.loads((out / "embodiments.json").read_text())
    assert doc["format"] == "qwen-vla-embodiments" and doc["embodiments"]["franka_libero"]["action_dim"] == 7
    # a non-empty OUT_DIR is refused: one line, exit 2
    assert run_cli("make-tiny-qwen-vla", str(out)) == 2
    assert "exists and is not an empty directory" in capsys.readouterr().err


def test_forward_batch_1_and_8(franka, ckpt):
    spec = franka.metadata()
    assert (spec.action_dim, spec.horizon, spec.cameras) == (7, 8, ("agentview", "wrist"))
    assert spec.checkpoint == checkpoint_sha256(ckpt) and spec.checkpoint.startswith("sha256:")
    rng = np.random.default_rng(0)
    obs = [libero_obs(i, rng) for i in range(8)]
    a1 = franka.infer_batch(obs[:1])
    a8 = franka.infer_batch(obs)
    assert a1.shape == (1, 8, 7) and a8.shape == (8, 8, 7)
    assert a8.dtype == np.float32 and np.isfinite(a8).all()
    # environment units: within the embodiment's q01/q99 range (LIBERO's [-1, 1] for the gripper)
    e = franka.emb
    assert (a8 >= e.action_norm.a - 1e-5).all() and (a8 <= e.action_norm.b + 1e-5).all()
    # batching changes nothing: each row equals that observation run alone (right padding + masks)
    np.testing.assert_allclose(a8[0], a1[0], atol=1e-4)
    singles = np.concatenate([franka.infer_batch([o]) for o in obs[1:4]])
    np.testing.assert_allclose(a8[1:4], singles, atol=1e-4)
    # deterministic; the chunk depends on the instruction, the images and the state
    np.testing.assert_array_equal(franka.infer_batch(obs[:1]), a1)
    o = obs[0]
    other = [
        Observation(**{**o.__dict__, "instruction": "open the drawer"}),
        Observation(**{**o.__dict__, "images": {k: 255 - v for k, v in o.images.items()}}),
        Observation(**{**o.__dict__, "state": o.state + 1.0}),
    ]
    for v in franka.infer_batch(other):
        assert np.abs(v - a1[0]).max() > 1e-4


def test_embodiment_guards(franka, ckpt):
    rng = np.random.default_rng(1)
    o = libero_obs(0, rng)
    with pytest.raises(ValueError, match="expects a 8-D state, got 7-D"):
        franka.infer_batch([Observation(**{**o.__dict__, "state": o.state[:7]})])
    with pytest.raises(ValueError, match="has no camera 'wrist'"):
        franka.infer_batch([Observation(**{**o.__dict__, "images": {"agentview": o.images["agentview"]}})])
    with pytest.raises(ValueError, match="observation of embodiment 'point2d' given to embodiment 'franka_libero'"):
        franka.infer_batch([Observation(**{**o.__dict__, "embodiment": "point2d"})])
    # a suite name selects its embodiment
    p = load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "libero_goal"})
    assert p.emb.name == "franka_libero"


def test_navigation_embodiment_outputs_suite_actions(ckpt):
    p = load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "vln_r2r"})
    spec = p.metadata()
    assert (spec.action_dim, spec.control_mode, spec.needs_state, spec.cameras) == (1, "nav_discrete", False, ("rgb",))
    rng = np.random.default_rng(2)
    obs = [
        Observation(
            images={"rgb": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)},
            state=np.zeros(0, np.float32),
            instruction="walk past the sofa and stop at the door",
            embodiment="habitat_vlnce",
            env_id=i,
            episode_id=f"n{i}",
        )
        for i in range(2)
    ]
    a = p.infer_batch(obs)
    assert a.shape == (2, 8, 1) and set(np.unique(a)) <= {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("backbone", ["qwen2_5_vl", "qwen3_vl"])
def test_other_backbone_families(tmp_path, backbone):
    out = make_tiny_checkpoint(tmp_path / backbone, backbone=backbone, embodiments=["point2d"])
    p = load_policy("qwen_vla", {"checkpoint": str(out)})  # the only embodiment is the default
    assert inspect_checkpoint(out).backbone_type == backbone
    rng = np.random.default_rng(3)
    obs = [
        Observation(
            images={"top": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)},
            state=rng.uniform(size=2).astype(np.float32),
            instruction="move" + " left" * i,
            embodiment="point2d",
            env_id=i,
            episode_id=f"t{i}",
        )
        for i in range(2)
    ]
    a = p.infer_batch(obs)
    assert a.shape == (2, 8, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a[1:], p.infer_batch(obs[1:]), atol=1e-4)


# --- the loader's errors ----------------------------------------------------------------
def _edit_json(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def _int_tensor_in_decoder(root: Path) -> None:
    from safetensors.torch import load_file, save_file

    f = root / "action_decoder" / "model.safetensors"
    sd = load_file(str(f))
    sd["action_out.bias"] = torch.zeros(sd["action_out.bias"].shape, dtype=torch.int64)
    save_file(sd, str(f))


def _drop_backbone_tensor(root: Path) -> None:
    from safetensors.torch import load_file, save_file

    f = root / "backbone" / "model.safetensors"
    sd = load_file(str(f))
    del sd[sorted(k for k in sd if k.endswith("norm.weight"))[0]]
    save_file(sd, str(f), metadata={"format": "pt"})


def _shrink_backbone_embedding(root: Path) -> None:
    from safetensors.torch import load_file, save_file

    f = root / "backbone" / "model.safetensors"
    sd = load_file(str(f))
    k = next(k for k in sd if k.endswith("embed_tokens.weight"))
    sd[k] = sd[k][:, :64].contiguous()
    save_file(sd, str(f), metadata={"format": "pt"})


BROKEN = {
    "missing embodiments.json": (lambda r: (r / "embodiments.json").unlink(), "embodiments.json: missing file"),
    "missing backbone config": (
        lambda r: (r / "backbone" / "config.json").unlink(),
        "backbone/config.json: missing file",
    ),
    "missing decoder weights": (
        lambda r: (r / "action_decoder" / "model.safetensors").unlink(),
        "action_decoder/model.safetensors: missing file",
    ),
    "missing tokenizer": (lambda r: (r / "backbone" / "tokenizer.json").unlink(), "has no tokenizer files"),
    "decoder shape mismatch": (
        lambda r: _edit_json(r / "action_decoder" / "config.json", lambda d: d.update(action_horizon=16)),
        "tensor 'pos_emb' has shape [1, 9, 64], expected [1, 17, 64] (from action_decoder/config.json)",
    ),
    "context dim mismatch": (
        lambda r: _edit_json(r / "action_decoder" / "config.json", lambda d: d.update(context_dim=96)),
        "context_dim 96 does not match the backbone's hidden size 128",
    ),
    "wrong dtype": (_int_tensor_in_decoder, "tensor 'action_out.bias' has dtype I64; expected F32, BF16 or F16"),
    "pickle weights": (
        lambda r: (r / "backbone" / "pytorch_model.bin").write_bytes(b"\x80\x04."),
        "pickle-based weights are refused",
    ),
    "remote code": (
        lambda r: _edit_json(r / "backbone" / "config.json", lambda d: d.update(auto_map={"AutoModel": "x.Y"})),
        "asks for remote code (auto_map)",
    ),
    "unsupported backbone": (
        lambda r: _edit_json(r / "backbone" / "config.json", lambda d: d.update(model_type="llama")),
        "model_type 'llama' is not an accepted backbone",
    ),
    "mask width": (
        lambda r: _edit_json(
            r / "embodiments.json", lambda d: d["embodiments"]["point2d"].update(action_mask=[1, 1] + [0] * 20)
        ),
        "action_mask: has 22 entries, expected 32",
    ),
    "statistics length": (
        lambda r: _edit_json(
            r / "embodiments.json",
            lambda d: d["embodiments"]["point2d"]["normalization"]["state"].update(q01=[0.0]),
        ),
        "normalization.state.q01: has 1 values, expected 2",
    ),
    "bad json": (lambda r: (r / "embodiments.json").write_text("{"), "embodiments.json: is not valid JSON"),
    "processor patch": (
        lambda r: _edit_json(r / "backbone" / "preprocessor_config.json", lambda d: d.update(patch_size=14)),
        "patch_size is 14 but the vision encoder's patch_size is 16",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_loader_reports_each_problem(ckpt, tmp_path, case):
    root = Path(shutil.copytree(ckpt, tmp_path / "ck"))
    breaker, needle = BROKEN[case]
    breaker(root)
    with pytest.raises(UsageError) as e:
        load_policy("qwen_vla", {"checkpoint": str(root), "embodiment": "point2d"})
    msg = str(e.value)
    assert needle in msg, msg
    assert "\n" not in msg and msg.startswith(f"invalid Qwen-VLA checkpoint '{root}'")


def test_loader_collects_several_problems(ckpt, tmp_path):
    root = Path(shutil.copytree(ckpt, tmp_path / "ck"))
    (root / "backbone" / "preprocessor_config.json").unlink()
    _edit_json(root / "embodiments.json", lambda d: d["embodiments"]["point2d"].update(cameras=[]))
    with pytest.raises(UsageError, match=r"2 problems: .*preprocessor_config.json: missing file; .*cameras must be"):
        inspect_checkpoint(root)


@pytest.mark.parametrize(
    "breaker, needle",
    [
        (_drop_backbone_tensor, "weights missing from the safetensors files"),
        (_shrink_backbone_embedding, "embed_tokens.weight' has shape [512, 64], expected [512, 128]"),
    ],
)
def test_backbone_weights_are_checked_at_load(ckpt, tmp_path, breaker, needle):
    root = Path(shutil.copytree(ckpt, tmp_path / "ck"))
    breaker(root)
    with pytest.raises(UsageError) as e:
        load_policy("qwen_vla", {"checkpoint": str(root), "embodiment": "point2d"})
    assert needle in str(e.value)


def test_unknown_embodiment_and_bad_arguments(ckpt, tmp_path):
    with pytest.raises(UsageError, match=r"unknown embodiment 'ur5' in Qwen-VLA checkpoint .* \(known: aloha_agilex, "):
        load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "ur5"})
    with pytest.raises(UsageError, match="has several embodiments; pass embodiment=NAME"):
        load_policy("qwen_vla", {"checkpoint": str(ckpt)})
    with pytest.raises(UsageError, match="is not a directory"):
        load_policy("qwen_vla", {"checkpoint": str(tmp_path / "nope")})
    with pytest.raises(UsageError, match="dtype must be one of"):
        load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "point2d", "dtype": "int8"})


def test_checkpoint_hash_covers_every_file(ckpt, tmp_path):
    root = Path(shutil.copytree(ckpt, tmp_path / "ck"))
    h = checkpoint_sha256(root)
    assert h == checkpoint_sha256(ckpt)
    _edit_json(root / "embodiments.json", lambda d: d["embodiments"]["point2d"].update(prompt="another robot"))
    assert checkpoint_sha256(root) != h


# --- the rollout loop -------------------------------------------------------------------
def test_toy_reach_loop_through_the_cli(ckpt, tmp_path):
    out = tmp_path / "run"
    code = run_cli(
        "run",
        "--suite",
        "toy_reach",
        "--policy",
        "qwen_vla",
        "--policy-args",
        f"checkpoint={ckpt}",
        "embodiment=point2d",
        "device=cpu",
        "--tasks",
        "0",
        "--episodes",
        "0:2",
        "--max-steps",
        "6",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert code == 0
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 2 and all(r["status"] == "ok" and r["steps"] == 6 for r in rows)
    assert {r["checkpoint"] for r in rows} == {checkpoint_sha256(ckpt)}
    assert json.loads((out / "run.json").read_text())["config"]["policy_args"]["embodiment"] == "point2d"


def test_toy_reach_takes_the_embodiment_from_the_suite(ckpt, tmp_path):
    out = tmp_path / "run"
    code = run_cli(
        "run", "--suite", "toy_reach", "--policy", "qwen_vla", "--policy-args", f"checkpoint={ckpt}", "device=cpu",
        "--tasks", "0", "--episodes", "0", "--max-steps", "3", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    (row,) = list(read_rows(out / EPISODES_FILE))
    assert row["status"] == "ok" and row["steps"] == 3 and row["checkpoint"] == checkpoint_sha256(ckpt)


def test_embodiment_from_the_action_space(ckpt, tmp_path):
    from vla_eval.suite import get_suite

    def load(suite: str, **kw):
        return load_policy("qwen_vla", {"checkpoint": str(ckpt), "action_space": get_suite(suite).action_space, **kw})

    assert load("toy_reach").emb.name == "point2d"
    assert load("robotwin_easy").emb.name == "aloha_agilex"  # tag 'aloha-agilex' is in its suite_tags
    with pytest.raises(
        UsageError, match=r"several embodiments for the suite's embodiment 'habitat_vlnce' \(vln_r2r, vln_rxr\)"
    ):
        load("r2r_val_unseen")
    assert load("r2r_val_unseen", embodiment="vln_r2r").emb.name == "vln_r2r"
    with pytest.raises(UsageError, match="the suite's embodiment is 'point2d'; embodiment 'franka_libero' serves"):
        load("toy_reach", embodiment="franka_libero")
    # a checkpoint without the suite's embodiment: the unknown-embodiment error
    one = make_tiny_checkpoint(tmp_path / "one", embodiments=["franka_libero"])
    with pytest.raises(
        UsageError, match=r"unknown embodiment 'point2d' in Qwen-VLA checkpoint .* \(known: franka_libero\)"
    ):
        load_policy("qwen_vla", {"checkpoint": str(one), "action_space": get_suite("toy_reach").action_space})


def test_declared_gripper_convention_comes_from_the_embodiment(ckpt):
    from vla_eval.conventions import Gripper
    from vla_eval.suite import get_suite

    cases = [
        ("libero_spatial", Gripper.CLOSE_POSITIVE),
        ("simpler_widowx", Gripper.OPEN_POSITIVE),
        ("robotwin_easy", Gripper.OPEN_UNIT),
        ("toy_reach", None),
    ]
    for suite_name, gripper in cases:
        suite = get_suite(suite_name)
        spec = load_policy("qwen_vla", {"checkpoint": str(ckpt), "action_space": suite.action_space}).metadata()
        assert spec.gripper is gripper, suite_name
        suite.check_policy(spec)
    spec = load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "franka_libero"}).metadata()
    with pytest.raises(UsageError, match="emits gripper close_positive"):
        get_suite("simpler_widowx").check_policy(spec)


@pytest.mark.sim
@requires_libero
def test_libero_spatial_task0_with_agentview_and_wrist(ckpt, tmp_path):
    out = tmp_path / "run"
    code = run_cli(
        "run",
        "--suite",
        "libero_spatial",
        "--policy",
        "qwen_vla",
        "--policy-args",
        f"checkpoint={ckpt}",
        "embodiment=franka_libero",
        "device=cpu",
        "--tasks",
        "0",
        "--episodes",
        "0",
        "--max-steps",
        "5",
        "--out",
        str(out),
    )
    assert code == 0
    (row,) = list(read_rows(out / EPISODES_FILE))
    assert row["status"] == "ok", row
    assert row["steps"] == 5 and row["checkpoint"] == checkpoint_sha256(ckpt)
    assert row["timing"]["policy_s"] > 0
