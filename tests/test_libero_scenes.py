"""LIBERO scene tables: format, hash, lookup, episode ids (no simulator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_eval.aggregation import benchmarks_from
from vla_eval.errors import UsageError
from vla_eval.suite import get_suite, load_protocols
from vla_eval.suites.libero.scenes import SceneTable, apply_warmstart, content_hash, save_table

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")


def _table(tmp_path: Path) -> tuple[Path, str]:
    arrays = {
        "libero_spatial/4/bodies": np.array(["wooden_cabinet_1_main", "flat_stove_1_main"]),
        "libero_spatial/4/body_pos": np.arange(3 * 2 * 3, dtype=np.float64).reshape(3, 2, 3),
        "libero_spatial/4/body_quat": np.tile([1.0, 0, 0, 0], (3, 2, 1)),
        "libero_spatial/4/qacc_warmstart@3.2.3": np.arange(3 * 5, dtype=np.float64).reshape(3, 5),
    }
    path = tmp_path / "t.npz"
    return path, save_table(path, arrays, {"seed": 7})


def test_table_round_trip_and_lookup(tmp_path):
    path, digest = _table(tmp_path)
    t = SceneTable(path, digest)
    assert t.sha256 == digest and t.meta == {"seed": 7}
    e = t.entry("libero_spatial", 4, 1, "3.2.3")
    assert e.bodies == ("wooden_cabinet_1_main", "flat_stove_1_main")
    np.testing.assert_array_equal(e.body_pos, [[6, 7, 8], [9, 10, 11]])
    np.testing.assert_array_equal(e.qacc_warmstart, [5, 6, 7, 8, 9])
    assert t.entry("libero_spatial", 4, 1, "2.3.7").qacc_warmstart is None  # no warm start for that MuJoCo
    assert t.warmstart_versions() == ["3.2.3"]


def test_content_hash_is_of_the_arrays_not_the_zip(tmp_path):
    path, digest = _table(tmp_path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    assert content_hash(arrays) == digest
    arrays["libero_spatial/4/body_pos"] = arrays["libero_spatial/4/body_pos"] + 1e-12
    assert content_hash(arrays) != digest


def test_table_errors_are_one_line(tmp_path):
    path, digest = _table(tmp_path)
    with pytest.raises(UsageError, match="content hash"):
        SceneTable(path, "0" * 64)
    with pytest.raises(UsageError, match="missing"):
        SceneTable(tmp_path / "nope.npz")
    t = SceneTable(path, digest)
    with pytest.raises(UsageError, match="no entry"):
        t.entry("libero_goal", 0, 0, "3.2.3")
    with pytest.raises(UsageError, match="3 episodes"):
        t.entry("libero_spatial", 4, 3, "3.2.3")


def test_warmstart_applied_or_zeroed():
    class Model:
        nv = 5

    class Data:
        qacc_warmstart = np.full(5, 9.0)

    from vla_eval.suites.libero.scenes import SceneEntry

    e = SceneEntry(bodies=(), body_pos=np.zeros((0, 3)), body_quat=np.zeros((0, 4)), qacc_warmstart=np.arange(5.0))
    d = Data()
    apply_warmstart(Model(), d, e)
    np.testing.assert_array_equal(d.qacc_warmstart, np.arange(5.0))
    apply_warmstart(Model(), d, SceneEntry((), e.body_pos, e.body_quat, None))
    np.testing.assert_array_equal(d.qacc_warmstart, np.zeros(5))


@pytest.mark.parametrize("variant,seed", [("", 7), ("_openvla", 0)])
def test_each_shipped_table_covers_every_task_and_episode(variant, seed):
    """Each loop's table has the hash its protocol names and an entry for every episode of every suite."""
    first = get_suite("libero_spatial" + variant).protocol
    table = SceneTable(Path(get_suite(first.suite).protocol_file).parent / first.extra["scene_table"])
    assert table.sha256 == first.extra["scene_table_sha256"] and table.meta["seed"] == first.seed == seed
    for name in SUITES:
        p = get_suite(name + variant).protocol
        assert p.base_suite == name and p.extra["scene_table_sha256"] == table.sha256
        for ti, task in enumerate(p.tasks):
            pos = table.arrays[f"{name}/{ti}/body_pos"]
            assert pos.shape[0] == task.episodes
            assert table.arrays[f"{name}/{ti}/qacc_warmstart@3.2.3"].shape[0] == task.episodes
            if pos.shape[1]:  # fixtures move from episode to episode in the reference loop
                assert len({pos[i].tobytes() for i in range(task.episodes)}) > 1


def test_the_openvla_variant_is_the_same_protocol_with_its_own_loop():
    """libero_*_openvla: the member's tasks, steps and conventions; seed 0, its own scenes and episode ids."""
    openpi, openvla = get_suite("libero_spatial").protocol, get_suite("libero_spatial_openvla").protocol
    assert openvla.tasks == openpi.tasks and openvla.action == openpi.action
    assert (openvla.cameras, openvla.image_size, openvla.replan_steps) == (
        openpi.cameras,
        openpi.image_size,
        openpi.replan_steps,
    )
    assert (openpi.seed, openvla.seed) == (7, 0)
    assert openvla.extra["variant"] == "openvla" and openvla.base_suite == "libero_spatial"
    assert "OpenVLA" in openvla.extra["reference_loop"] and "openpi" in openpi.extra["reference_loop"]
    a, b = get_suite("libero_spatial").plan("4", "2")[0], get_suite("libero_spatial_openvla").plan("4", "2")[0]
    assert a.episode_id != b.episode_id and a.scene_id != b.scene_id and b.seed == 0
    # the two loops' scenes differ (fixture poses of task 4, episode 2)
    tables = [
        SceneTable(Path(get_suite("libero_spatial").protocol_file).parent / p.extra["scene_table"])
        for p in (openpi, openvla)
    ]
    pos = [t.entry("libero_spatial", 4, 2, "3.2.3").body_pos for t in tables]
    assert not np.array_equal(pos[0], pos[1])
    # its own benchmark row, over its own suites
    (bench,) = benchmarks_from(openvla.extra["benchmarks"], "libero_spatial_openvla")
    assert bench.id == "libero_avg_openvla" and all(m.endswith("_openvla") for m in bench.members)


def test_protocol_variants_are_checked(tmp_path):
    base = """
[defaults]
version = "1"
source = "s"
seed = 7
episodes_per_task = 2
max_steps = 5
embodiment = "point2d"
action_dim = 2
action_low = [-1.0, -1.0]
action_high = [1.0, 1.0]
idle_action = [0.0, 0.0]
replan_steps = 1
cameras = []
image_size = [8, 8]
action.control_mode = "point_delta"
action.rotation = "none"
action.gripper = "none"
action.units = "normalized"
[a]
[[a.tasks]]
name = "t"
instruction = "do t"
"""
    good = tmp_path / "good.toml"
    good.write_text(base + '[variants.v]\nsuites = ["a"]\nseed = 3\n')
    protocols = load_protocols(good)
    assert set(protocols) == {"a", "a_v"} and protocols["a_v"].seed == 3 and protocols["a_v"].base_suite == "a"
    assert protocols["a"].base_suite == "a" and "variant" not in protocols["a"].extra
    for i, (tail, msg) in enumerate(
        [
            ('[variants.v]\nsuites = ["b"]\n', "no suite 'b'"),
            ("[variants.v]\nseed = 3\n", "'suites' must list"),
            ('[variants.v]\nsuites = ["a"]\nsuffix = ""\n', "declared twice"),
        ]
    ):
        bad = tmp_path / f"bad{i}.toml"
        bad.write_text(base + tail)
        with pytest.raises(UsageError, match=msg):
            load_protocols(bad)


def test_scene_id_is_part_of_libero_episode_ids_only():
    spec = get_suite("libero_spatial").plan("4", "2")[0]
    digest = get_suite("libero_spatial").protocol.extra["scene_table_sha256"]
    assert spec.scene_id == f"{digest[:16]}#4/2"
    assert spec.protocol_version == "2"
    toy = get_suite("toy_reach").plan("0", "0")[0]
    assert toy.scene_id == ""


def test_doctor_checks_the_reference_stack_and_the_table(monkeypatch):
    from tests.conftest import libero_importable

    if not libero_importable():
        pytest.skip("LIBERO is not installed")
    suite = get_suite("libero_spatial")
    findings = {f.check: f for f in suite.diagnose()}
    assert findings["scene table"].ok and findings["version mujoco"].ok and findings["version robosuite"].ok
    from importlib import metadata

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda d: "2.3.7" if d == "mujoco" else real(d))
    bad = {f.check: f for f in suite.diagnose()}["version mujoco"]
    assert not bad.ok and "mujoco==3.2.3" in bad.fix
