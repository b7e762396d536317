"""LIBERO scene tables: format, hash, lookup, episode ids (no simulator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_eval.errors import UsageError
from vla_eval.suite import get_suite
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


def test_shipped_table_covers_every_task_and_episode_and_matches_the_protocol():
    """The table in the package has the hash the protocol names, and an entry for every episode."""
    protocol = get_suite("libero_spatial").protocol
    path = Path(get_suite("libero_spatial").protocol_file).parent / protocol.extra["scene_table"]
    table = SceneTable(path, protocol.extra["scene_table_sha256"])
    assert table.meta["seed"] == protocol.seed == 7
    for name in SUITES:
        p = get_suite(name).protocol
        assert p.extra["scene_table_sha256"] == table.sha256
        for ti, task in enumerate(p.tasks):
            pos = table.arrays[f"{name}/{ti}/body_pos"]
            assert pos.shape[0] == task.episodes
            assert table.arrays[f"{name}/{ti}/qacc_warmstart@3.2.3"].shape[0] == task.episodes
            if pos.shape[1]:  # fixtures move from episode to episode in the reference loop
                assert len({pos[i].tobytes() for i in range(task.episodes)}) > 1


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
