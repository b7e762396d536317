"""Fast checks of the SimplerEnv / ManiSkill3 suites: protocol parameters (against
shared/research/protocols.md §2 and the upstream envs), episode enumeration, conversions and
setup helpers. No simulator is imported."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from vla_eval.suite import get_suite

ROOT = Path(__file__).resolve().parents[1]
SIMPLER = ROOT / "suites" / "simpler"

REAL2SIM = SIMPLER / "real2sim"

# protocols.md §2 (SimplerEnv WidowX / Bridge), with ManiSkill3's -v1 env ids.
WIDOWX = {
    "PutSpoonOnTableClothInScene-v1": ("put the spoon on the towel", 60),
    "PutCarrotOnPlateInScene-v1": ("put carrot on plate", 60),
    "StackGreenCubeOnYellowCubeBakedTexInScene-v1": ("stack the green block on the yellow block", 60),
    "PutEggplantInBasketScene-v1": ("put eggplant into yellow basket", 120),
}
# ManiSkill3 3.0.1 put_on_in_scene.py: position configs x orientation configs.
GRIDS = {
    "PutSpoonOnTableClothInScene-v1": (12, 2),
    "PutCarrotOnPlateInScene-v1": (12, 2),
    "StackGreenCubeOnYellowCubeBakedTexInScene-v1": (24, 1),
    "PutEggplantInBasketScene-v1": (8, 8),
}


def test_widowx_ms3_protocol_matches_protocols_md():
    p = get_suite("simpler_widowx_ms3").protocol
    assert [t.name for t in p.tasks] == list(WIDOWX)
    for t in p.tasks:
        instr, steps = WIDOWX[t.name]
        assert t.instruction == instr
        assert t.max_steps == steps
        assert t.episodes == math.prod(GRIDS[t.name])  # the full grid of scenes, each once
    assert [t.episodes for t in p.tasks] == [24, 24, 24, 64]
    assert p.seed == 0
    assert p.cameras == ("3rd_view_camera",)
    assert p.image_size == (480, 640)
    assert p.action_dim == 7 and p.replan_steps == 1
    assert p.idle_action == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # gripper +1 = open
    assert p.action_low[3:6] == pytest.approx((-math.pi / 2,) * 3)
    x = p.extra
    assert x["control_mode"] == "arm_pd_ee_target_delta_pose_align2_gripper_pd_joint_pos"
    assert (x["control_freq"], x["sim_freq"]) == (5, 500)
    assert x["obs_mode"] == "rgb+segmentation"
    assert x["aggregation"] == "task_mean"
    assert x["shader_pack"] == "default"  # SimplerEnv's ManiSkill3 script; the env default is "minimal"
    assert "not comparable to -v0" in x["label"]
    assert "LAST step" in open(SIMPLER / "protocol.toml").read()


def test_widowx_ms3_gets_no_v0_reference_rows():
    from vla_eval.reference import load_reference

    rows = load_reference()
    assert not [r for r in rows if r.suite == "simpler_widowx_ms3"]
    v0 = [r for r in rows if r.suite == "simpler_widowx"]
    assert v0 and all(not r.task or r.task.endswith("-v0") for r in v0)


# scripts/octo_bridge.sh (SimplerEnv main): env id -> (robot, scene, overlay, robot xy, steps)
BRIDGE_V0 = {
    "PutSpoonOnTableClothInScene-v0": ("widowx", "bridge_table_1_v1", "bridge_real_eval_1.png", [0.147, 0.028], 60),
    "PutCarrotOnPlateInScene-v0": ("widowx", "bridge_table_1_v1", "bridge_real_eval_1.png", [0.147, 0.028], 60),
    "StackGreenCubeOnYellowCubeBakedTexInScene-v0": (
        "widowx",
        "bridge_table_1_v1",
        "bridge_real_eval_1.png",
        [0.147, 0.028],
        60,
    ),
    "PutEggplantInBasketScene-v0": (
        "widowx_sink_camera_setup",
        "bridge_table_1_v2",
        "bridge_sink.png",
        [0.127, 0.06],
        120,
    ),
}


def test_widowx_v0_protocol_is_octo_bridge_sh():
    from vla_eval.suites.simpler.real2sim import episodes as ep
    from vla_eval.suites.simpler.real2sim.driver import build_kwargs, reset_options

    p = get_suite("simpler_widowx").protocol
    assert [t.name for t in p.tasks] == list(BRIDGE_V0)
    assert [t.episodes for t in p.tasks] == [24, 24, 24, 24]
    assert [t.max_steps for t in p.tasks] == [60, 60, 60, 120]
    assert p.cameras == ("3rd_view_camera",) and p.action_dim == 7
    assert p.idle_action[6] == 1.0  # gripper +1 = open
    x = p.extra
    assert x["control_mode"] == "arm_pd_ee_target_delta_pose_align2_gripper_pd_joint_pos"
    assert (x["control_freq"], x["sim_freq"]) == (5, 500)
    assert x["split"] == "visual_matching" and x["aggregation"] == "task_mean"
    assert "is_src_obj_grasped" in x["rate_metrics"]
    for t in p.tasks:
        robot, scene, overlay, xy, steps = BRIDGE_V0[t.name]
        eps = ep.task_episodes("simpler_widowx", t.name)
        assert [e["obj_init"] for e in eps] == [{"episode_id": i} for i in range(24)]
        kw = build_kwargs(eps[3], p, "/d")
        assert (kw["robot"], kw["scene_name"], kw["max_episode_steps"]) == (robot, scene, steps)
        assert kw["rgb_overlay_path"] == f"/d/real_inpainting/{overlay}"
        assert kw["rgb_overlay_cameras"] == ["3rd_view_camera"] and kw["obs_mode"] == "rgbd"
        opts = reset_options(eps[3])
        assert opts["robot_init_options"]["init_xy"].tolist() == xy
        assert opts["robot_init_options"]["init_rot_quat"].tolist() == [0.0, 0.0, 0.0, 1.0]
        assert opts["obj_init_options"] == {"episode_id": 3}


def test_widowx_grid_in_protocol_file():
    doc = tomllib.loads((SIMPLER / "protocol.toml").read_text())
    for t in doc["simpler_widowx_ms3"]["tasks"]:
        assert tuple(t["grid"]) == GRIDS[t["name"]]


def test_scene_config_covers_grid_once():
    from vla_eval.suites.simpler.driver import scene_config

    for n_pos, n_quat in GRIDS.values():
        seen = [scene_config(i, n_pos, n_quat) for i in range(n_pos * n_quat)]
        assert len(set(seen)) == n_pos * n_quat
        assert all(0 <= a < n_pos and 0 <= b < n_quat for a, b in seen)
    assert scene_config(0, 12, 2) == (0, 0) and scene_config(1, 12, 2) == (0, 1) and scene_config(2, 12, 2) == (1, 0)


def test_state_vector():
    from vla_eval.suites.simpler.driver import state_vector

    s = state_vector(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0, 0.0, 0.0]]), np.arange(8.0)[None])
    assert s.dtype == np.float32 and s.shape == (15,)
    assert s[:3].tolist() == [1.0, 2.0, 3.0] and s[7:].tolist() == list(range(8))


def test_maniskill3_protocol():
    p = get_suite("maniskill3").protocol
    assert [t.name for t in p.tasks] == ["PickCube-v1", "PushCube-v1", "StackCube-v1"]
    assert all(t.max_steps == 50 for t in p.tasks)
    assert p.action_dim == 7 and p.extra["control_mode"] == "pd_ee_delta_pose"
    assert p.cameras == ("base_camera",) and p.image_size == (128, 128)
    assert p.extra["aggregation"] == "task_mean"


def test_google_episode_counts_match_protocol():
    from vla_eval.suites.simpler.real2sim import episodes as ep

    for suite in ("simpler_google_vm", "simpler_google_va"):
        s = get_suite(suite)
        for t in s.protocol.tasks:
            eps = ep.task_episodes(suite, t.name)
            assert len(eps) == t.episodes, (suite, t.name)
            assert {e["max_steps"] for e in eps} == {t.max_steps}
    vm = ep.task_episodes("simpler_google_vm", "pick_coke_can")
    # 3 orientations x 4 URDF versions x a 5 x 5 grid of can positions, all with the overlay.
    assert len({(e["kwargs"].get("urdf_version"), tuple(sorted(e["kwargs"]))) for e in vm}) == 12
    assert all(e["rgb_overlay"] == "google_coke_can_real_eval_1.png" for e in vm)
    xs = sorted({e["obj_init"]["init_xy"][0] for e in vm})
    assert xs == pytest.approx(np.linspace(-0.35, -0.12, 5).tolist())
    mn = ep.task_episodes("simpler_google_vm", "move_near")
    assert sorted({e["obj_init"]["episode_id"] for e in mn}) == list(range(60))
    va = ep.task_episodes("simpler_google_va", "pick_coke_can")
    assert all(e["rgb_overlay"] is None for e in va)  # variant aggregation: no overlay


def test_google_va_counts_what_the_metric_script_counts():
    """calc_metrics_evaluation_videos.py leaves the two camera variants out: 675 / 480 episodes."""
    from vla_eval.suites.simpler.real2sim import episodes as ep

    counted = {
        t: sum(e["counted"] for e in ep.task_episodes("simpler_google_va", t))
        for t in ("pick_coke_can", "move_near", "open_close_drawer", "put_apple_in_top_drawer")
    }
    assert counted == {"pick_coke_can": 675, "move_near": 480, "open_close_drawer": 378, "put_apple_in_top_drawer": 189}
    coke = ep.task_episodes("simpler_google_va", "pick_coke_can")
    groups = {(e["subtask"], e["group"]) for e in coke if e["counted"]}
    assert len(groups) == 27 and {s for s, _ in groups} == {"horizontal", "vertical", "standing"}  # 9 variants x 3
    drawer = ep.task_episodes("simpler_google_vm", "open_close_drawer")
    g = {}
    for e in drawer:
        g.setdefault((e["subtask"], e["group"]), []).append(e)
    assert len(g) == 24 and all(len(v) == 9 for v in g.values())  # (open|close) x 3 drawers x 4 urdf, 9 poses
    assert all(e["counted"] for t in ("pick_coke_can", "move_near") for e in ep.task_episodes("simpler_google_vm", t))


def _metric_script(eps):
    """The metric script's arithmetic, written out: per subtask, mean of group means; then mean of subtasks."""
    subs = {}
    for e in eps:
        if e.get("counted", True):
            subs.setdefault(e["subtask"], {}).setdefault(e["group"], []).append(e["success"])
    return float(np.mean([np.mean([np.mean(v) for v in gs.values()]) for gs in subs.values()]))


def test_group_mean_aggregation_is_the_metric_scripts():
    from vla_eval.aggregation import rate_group_mean
    from vla_eval.suites.simpler.real2sim import episodes as ep

    rng = np.random.default_rng(0)
    for suite in ("simpler_google_vm", "simpler_google_va"):
        for task in ("pick_coke_can", "move_near", "open_close_drawer", "put_apple_in_top_drawer"):
            eps = [
                {**e, "success": bool(rng.random() < 0.3 + 0.4 * (e["subtask"] == "close"))}
                for e in ep.task_episodes(suite, task)
            ]
            est = rate_group_mean(eps)
            assert est.value == pytest.approx(_metric_script(eps)), (suite, task)
            assert est.n == sum(e["counted"] for e in eps)
            assert est.low <= est.value <= est.high
    # groups of unequal size: not the pooled rate
    eps = [{"success": True, "group": "a", "subtask": "x"}] + [{"success": False, "group": "b", "subtask": "x"}] * 3
    assert rate_group_mean(eps).value == pytest.approx(0.5)
    eps.append({"success": True, "group": "cam", "subtask": "x", "counted": False})
    assert rate_group_mean(eps).value == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rate_group_mean([{"success": True, "counted": False}])


def test_report_aggregates_google_suites_per_task_and_overall():
    from vla_eval.report import aggregate

    def row(ti, task, i, success, group, subtask="", counted=True):
        return {
            "suite": "simpler_google_va",
            "task_index": ti,
            "task": task,
            "episode_id": f"{ti}-{i}",
            "episode_index": i,
            "status": "ok",
            "success": success,
            "max_steps": None,
            "metrics": {"group": group, "subtask": subtask, "counted": counted},
        }

    rows = [
        row(0, "pick_coke_can", 0, True, "g1", "horizontal"),
        row(0, "pick_coke_can", 1, False, "g2", "horizontal"),
        row(0, "pick_coke_can", 2, False, "g2", "horizontal"),
        row(0, "pick_coke_can", 3, True, "g3", "standing"),
        row(0, "pick_coke_can", 4, False, "cam", "standing", counted=False),
        row(1, "move_near", 0, False, "m1"),
        row(1, "move_near", 1, True, "m2"),
    ]
    rep = aggregate(rows, reference=[])
    t0 = rep.row("simpler_google_va", 0)
    assert t0.sr == pytest.approx(((1 + 0) / 2 + 1) / 2) and t0.n == 4  # the camera episode is not counted
    t1 = rep.row("simpler_google_va", 1)
    assert t1.sr == pytest.approx(0.5)
    suite = rep.row("simpler_google_va")
    assert suite.sr == pytest.approx((0.75 + 0.5) / 2)


def test_google_rotation_matches_transforms3d_convention():
    from vla_eval.suites.simpler.real2sim import episodes as ep

    # euler2quat(0, 0, yaw) * [0, 0, 0, 1] (wxyz): a rotation of pi + yaw about z.
    q = ep.robot_init_quat([0.0, 0.0, -0.09])
    assert q == pytest.approx([math.sin(0.045), 0.0, 0.0, math.cos(0.045)])
    q2 = ep.euler2quat_sxyz(0.3, 0.0, 0.0)
    assert q2 == pytest.approx([math.cos(0.15), math.sin(0.15), 0.0, 0.0])


def test_google_driver_kwargs_and_reset_options():
    from vla_eval.suites.simpler.real2sim import episodes as ep
    from vla_eval.suites.simpler.real2sim.driver import build_kwargs, reset_options

    p = get_suite("simpler_google_vm").protocol
    cfg = ep.task_episodes("simpler_google_vm", "open_close_drawer")[0]
    kw = build_kwargs(cfg, p, "/data")
    assert kw["robot"] == "google_robot_static" and kw["control_freq"] == 3 and kw["sim_freq"] == 513
    assert kw["rgb_overlay_path"] == "/data/real_inpainting/open_drawer_a0.png"
    assert kw["rgb_overlay_cameras"] == ["overhead_camera"]
    assert kw["shader_dir"] == "rt" and kw["station_name"] == "mk_station_recolor"
    assert kw["max_episode_steps"] == 113
    opts = reset_options(cfg)
    assert opts["robot_init_options"]["init_xy"].tolist() == [0.644, -0.179]
    assert opts["obj_init_options"]["init_xy"].tolist() == [0.0, 0.0]
    mn = ep.task_episodes("simpler_google_vm", "move_near")[5]
    assert reset_options(mn)["obj_init_options"] == {"episode_id": 5}


def test_lavapipe_env(tmp_path, monkeypatch):
    from vla_eval.suites.sapien_render import lavapipe_env

    assert lavapipe_env(tmp_path) == {}
    lib = tmp_path / "root" / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (tmp_path / "lvp_icd.json").write_text("{}")
    assert lavapipe_env(tmp_path) == {}  # not marked complete
    (tmp_path / ".complete").touch()
    monkeypatch.setenv("LD_LIBRARY_PATH", "/x")
    env = lavapipe_env(tmp_path)
    assert env["VK_ICD_FILENAMES"] == str(tmp_path / "lvp_icd.json")
    assert env["LD_LIBRARY_PATH"] == f"{lib}:/x"
    assert env["VLA_EVAL_VULKAN"] == "lavapipe"
    assert lavapipe_env(tmp_path, shim=True) == {}  # the wrapper ICD is not built
    (tmp_path / "vk_shim").mkdir()
    (tmp_path / "vk_shim" / "vk_shim_icd.json").write_text("{}")
    env = lavapipe_env(tmp_path, shim=True)
    assert env["VK_ICD_FILENAMES"] == str(tmp_path / "vk_shim" / "vk_shim_icd.json")
    assert env["VLA_EVAL_VULKAN"] == "lavapipe+vk_shim"


def test_setup_scripts_are_valid_bash():
    for script in (
        SIMPLER / "setup_lavapipe.sh",
        ROOT / "suites" / "sapien_render" / "setup_lavapipe.sh",
        ROOT / "suites" / "sapien_render" / "build_vk_shim.sh",
        REAL2SIM / "setup.sh",
    ):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script


def test_env_toml_files():
    d = tomllib.loads((SIMPLER / "env.toml").read_text())
    assert "torch==2.13.0" in d["requirements"]
    assert "mani-skill==3.0.1" in d["requirements"] and "sapien==3.0.3" in d["requirements"]
    assert (SIMPLER / d["setup"]).exists()
    d = tomllib.loads((REAL2SIM / "env.toml").read_text())
    assert "sapien==2.2.2" in d["requirements"] and "numpy<2" in d["requirements"]
    assert not any(r.startswith("torch") for r in d["requirements"])  # the simulator needs no torch
    assert (REAL2SIM / d["setup"]).exists() and d["notes"]
    from vla_eval.envs import env_spec

    # the three -v0 suites share one environment; the ManiSkill3 ones another
    keys = {
        n: env_spec(get_suite(n)).key
        for n in ("simpler_widowx", "simpler_google_vm", "simpler_google_va", "simpler_widowx_ms3", "maniskill3")
    }
    assert keys == {
        "simpler_widowx": "real2sim",
        "simpler_google_vm": "real2sim",
        "simpler_google_va": "real2sim",
        "simpler_widowx_ms3": "simpler",
        "maniskill3": "simpler",
    }


def test_rt_override(monkeypatch):
    from vla_eval.errors import SimulatorUnavailable
    from vla_eval.suites.simpler.real2sim import episodes as ep
    from vla_eval.suites.simpler.real2sim.driver import build_kwargs
    from vla_eval.suites.simpler.real2sim.suite import rt_samples_override

    p = get_suite("simpler_google_vm").protocol
    cfg = ep.task_episodes("simpler_google_vm", "open_close_drawer")[0]
    assert "render_config" not in build_kwargs(cfg, p, "/d", None)
    assert build_kwargs(cfg, p, "/d", 2)["render_config"] == {"rt_samples_per_pixel": 2}
    assert "shader_dir" not in build_kwargs(cfg, p, "/d", 0)
    coke = ep.task_episodes("simpler_google_vm", "pick_coke_can")[0]
    assert "render_config" not in build_kwargs(coke, p, "/d", 2)  # only ray-traced envs change
    for v, want in (("", None), ("off", 0), ("4", 4)):
        monkeypatch.setenv("VLA_EVAL_SIMPLER_RT_SPP", v)
        assert rt_samples_override() == want
    monkeypatch.setenv("VLA_EVAL_SIMPLER_RT_SPP", "-1")
    with pytest.raises(SimulatorUnavailable):
        rt_samples_override()


def test_vk_shim_compiles(tmp_path):
    """The wrapper ICD's C source builds with the system compiler and the Vulkan headers."""
    import shutil

    if shutil.which("cc") is None or not Path("/usr/include/vulkan/vk_icd.h").exists():
        pytest.skip("needs cc and the Vulkan headers (Debian libvulkan-dev)")
    src = ROOT / "suites" / "sapien_render" / "vk_shim.c"
    out = tmp_path / "shim.so"
    r = subprocess.run(
        [
            "cc",
            "-shared",
            "-fPIC",
            "-fvisibility=hidden",
            "-Wall",
            "-Werror",
            "-o",
            str(out),
            str(src),
            "-ldl",
            "-lpthread",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    syms = subprocess.run(["nm", "-D", "--defined-only", str(out)], capture_output=True, text=True).stdout
    for name in (
        "vk_icdNegotiateLoaderICDInterfaceVersion",
        "vk_icdGetInstanceProcAddr",
        "vk_icdGetPhysicalDeviceProcAddr",
    ):
        assert name in syms


def test_suite_modules_import_no_simulator():
    code = (
        "import sys, json\n"
        "from vla_eval.suite import get_suite\n"
        "for n in ['simpler_widowx','simpler_widowx_ms3','maniskill3','simpler_google_vm','simpler_google_va']:\n"
        "    s = get_suite(n); s.availability(); s.plan(tasks='0', episodes='0')\n"
        "import vla_eval.suites.simpler.driver, vla_eval.suites.simpler.real2sim.driver\n"
        "print(json.dumps([m for m in ('sapien','mani_skill','mani_skill2_real2sim','torch') if m in sys.modules]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_availability_without_maniskill_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "mani_skill" else real(m, *a))
    ok, why = get_suite("maniskill3").availability()
    assert not ok and "vla-eval env create" in why


def test_missing_simulator_files_are_errors(capfd):
    """SAPIEN 2.2.2 only logs a missing scene / object file; the driver turns that into an error."""
    import os

    from vla_eval.suites.simpler.real2sim.driver import missing_files_are_errors

    with missing_files_are_errors():
        os.write(2, b"[svulkan2] [error] GLFW error: X11: The DISPLAY environment variable is missing\n")
    assert "DISPLAY" in capfd.readouterr().err  # passed on, not an error
    with pytest.raises(FileNotFoundError, match="stages/x.glb"):
        with missing_files_are_errors():
            os.write(2, b"[2026-12-02 14:23:11.025] [SAPIEN] [error] File not found: /d/stages/x.glb\n")


def test_missing_urdf_error_names_the_file():
    import os

    from vla_eval.suites.simpler.real2sim.driver import missing_files_are_errors

    with pytest.raises(FileNotFoundError, match="mk_station2.urdf"):
        with missing_files_are_errors():
            os.write(2, b"[SAPIEN] [error] Failed to open URDF file: /d/custom/mk_station2.urdf\n")
            raise AttributeError("'NoneType' object has no attribute 'name'")
    with pytest.raises(KeyError):
        with missing_files_are_errors():
            raise KeyError("other failures pass through")


def test_render_probe_refuses_sapien_without_a_vulkan_device():
    """SAPIEN 2.2 builds its renderer without a usable device and exits 0, saying so on stderr:
    that is no renderer (the first frame crashes), so the probe moves on to lavapipe."""
    from vla_eval.suites.sapien_render import NO_DEVICE, probe_render

    said = (
        f"import sys; print('[svulkan2] [error] {NO_DEVICE}. CPU resources will be still available.', file=sys.stderr)"
    )
    ok, why = probe_render({}, said)
    assert not ok and NO_DEVICE in why
    assert probe_render({}, "print('renderer made')") == (True, "")
    assert probe_render({}, "raise SystemExit(3)")[0] is False
