"""--record-video through the runner: MP4s of the policy's camera views, named by episode id."""

import json

import pytest

from vla_eval.errors import UsageError
from vla_eval.runner import RunConfig, run

pytest.importorskip("imageio_ffmpeg")


def rows(out):
    return [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]


def test_failures_are_recorded_by_default(tmp_path):
    out = tmp_path / "o"
    run(RunConfig(suite="toy_reach", policy="tests.toy_policies:CameraPolicy", out=out, tasks="0", episodes="0:2"))
    r = rows(out)
    assert all(not x["success"] for x in r)
    videos = sorted(p.name for p in (out / "videos").iterdir())
    assert videos == sorted(f"{x['episode_id']}.mp4" for x in r)
    assert all(x["metrics"]["video"].endswith(f"{x['episode_id']}.mp4") for x in r)
    import imageio.v2 as iio

    frames = iio.mimread(out / "videos" / videos[0])
    assert len(frames) == r[0]["steps"] + 1  # the first observation and one per step


def test_successes_are_not_kept_in_failures_mode_and_none_records_nothing(tmp_path):
    class_path = "tests.toy_policies:ToyExpert"
    run(
        RunConfig(
            suite="toy_reach",
            policy=class_path,
            out=tmp_path / "a",
            tasks="0",
            episodes="0:2",
            replan_steps=1,
            record_video="all",
        )
    )
    assert not (tmp_path / "a" / "videos").exists()  # ToyExpert asks for no camera: nothing to record
    run(
        RunConfig(
            suite="toy_reach",
            policy="tests.toy_policies:CameraPolicy",
            out=tmp_path / "b",
            tasks="0",
            episodes="0:2",
            record_video="none",
        )
    )
    assert not (tmp_path / "b" / "videos").exists()


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(UsageError, match="--record-video must be one of failures, all, none"):
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.toy_policies:CameraPolicy",
                out=tmp_path / "o",
                record_video="sometimes",
            )
        )
    assert not (tmp_path / "o").exists()
