"""The HTML leaderboard: self-contained, bars and whiskers of the right size, rendered in real Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.test_report_helpers import counts, episode_rows, make_run
from vla_eval.html_report import BAR_W, PALETTE, write_html
from vla_eval.render import leaderboard
from vla_eval.runs import load_run_info


def build(tmp_path: Path) -> tuple[Path, dict]:
    """Two policies: one over the four LIBERO suites (one task each, partial) + a toy run; videos for two episodes."""
    dirs = []
    srs = {"libero_spatial": (40, 50), "libero_object": (49, 50), "libero_goal": (30, 50), "libero_10": (10, 50)}
    for s, (k, n) in srs.items():
        dirs.append(make_run(tmp_path / "runs" / s, s, {0: counts(k, n)}, policy="mine", reproduces="pi0"))
    other = make_run(tmp_path / "runs" / "other", "libero_spatial", {0: counts(25, 50)}, policy="theirs")
    toy = make_run(tmp_path / "runs" / "toy", "toy_reach", {0: counts(3, 4), 1: ["error", False]}, policy="mine")
    rows = episode_rows("libero_spatial", {0: counts(40, 50)})
    failed = next(r for r in rows if not r["success"])
    ok = next(r for r in rows if r["success"])
    vids = dirs[0] / "videos"
    vids.mkdir()
    (vids / f"{failed['episode_id']}.mp4").write_bytes(b"not really a video")
    (vids / f"{ok['episode_id']}.mp4").write_bytes(b"not really a video")
    runs = [load_run_info(d) for d in [*dirs, other, toy]]
    out = tmp_path / "site" / "board.html"
    write_html(leaderboard(runs), out)
    return out, {"failed": failed, "ok": ok, "srs": srs}


def test_html_is_self_contained_and_has_the_numbers(tmp_path):
    path, info = build(tmp_path)
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    # nothing external: no stylesheets, scripts, fonts, images or imports from anywhere
    assert not re.search(r"<link\b|<script\b|@import|url\(|@font-face|<img\b|<iframe\b", text)
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}
    hrefs = re.findall(r'href="([^"]+)"', text)
    assert hrefs and all(h.startswith("#") or h.startswith("../runs/") for h in hrefs), hrefs
    # bars: width = SR x BAR_W, one per (task or suite row) x run, plus the published rows
    widths = {float(m) for m in re.findall(r'<rect class="bar" data-sr="[^"]+" x="0" y="2" width="([0-9.]+)"', text)}
    for k, n in info["srs"].values():
        assert round(k / n * BAR_W, 2) in widths
    assert 'class="bar ref"' in text and "OpenVLA-OFT" in text
    assert "libero_avg" in text  # the benchmark row of the four suites
    assert f"{info['failed']['episode_id']}.mp4" in text and f"{info['ok']['episode_id']}.mp4" in text
    assert "reproduced (partial run: 50 of 500 episodes)" in text and "not reproduced (partial run" in text
    assert "toy_reach" in text and ">1</td>" in text  # the toy run's error is shown apart


CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

MEASURE = """
<script>
const out = {bars: [], refs: [], whiskers: [], videos: []};
for (const r of document.querySelectorAll('rect.bar')) {
  const b = r.getBoundingClientRect();
  (r.classList.contains('ref') ? out.refs : out.bars).push({sr: parseFloat(r.dataset.sr), w: b.width, h: b.height});
}
for (const g of document.querySelectorAll('g.whisker-group')) {
  const l = g.querySelector('line.whisker:not(.cap)').getBoundingClientRect();
  out.whiskers.push({lo: parseFloat(g.dataset.lo), hi: parseFloat(g.dataset.hi), x: l.left, w: l.width,
                     x0: g.ownerSVGElement.getBoundingClientRect().left});
}
for (const a of document.querySelectorAll('.videos a')) out.videos.push(a.getAttribute('href'));
const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>
"""


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it"
)
def test_rendered_in_headless_chromium(tmp_path):
    path, info = build(tmp_path)
    probe = path.with_name("probe.html")  # the page plus a script that measures the laid-out SVG
    probe.write_text(path.read_text().replace("</body>", MEASURE + "</body>"))
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
    }  # nothing of the user's browser profile is touched
    r = subprocess.run([*common, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'<pre id="measured">(.*?)</pre>', r.stdout, re.S)
    assert m, r.stdout[-2000:]
    got = json.loads(html.unescape(m.group(1)))
    bars = got["bars"]
    assert len(bars) >= 12  # 4 suites x (task + all) + benchmark row + the other run + toy rows
    for b in bars:  # the rendered width is the success rate
        assert b["w"] == pytest.approx(b["sr"] * BAR_W, abs=0.6) and b["h"] > 5
    assert any(b["sr"] == pytest.approx(0.8) and b["w"] == pytest.approx(240, abs=0.6) for b in bars)
    assert got["refs"] and all(b["w"] == pytest.approx(b["sr"] * BAR_W, abs=0.6) for b in got["refs"])
    assert len(got["whiskers"]) >= len(bars) - 1  # every bar with an interval has its whisker
    for w in got["whiskers"]:
        assert w["x"] - w["x0"] == pytest.approx(w["lo"] * BAR_W, abs=1.0)
        assert w["w"] == pytest.approx((w["hi"] - w["lo"]) * BAR_W, abs=1.5)
    assert sorted(got["videos"]) == sorted(
        f"../runs/libero_spatial/videos/{info[k]['episode_id']}.mp4" for k in ("failed", "ok")
    )

    # and a screenshot that is not blank: the first run's bar colour covers a good area
    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1400,1600", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    import imageio.v2 as iio

    img = np.asarray(iio.imread(shot))[..., :3].astype(int)
    assert (img < 250).any(axis=-1).mean() > 0.02  # not a white page
    colour = np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(img - colour).sum(axis=-1) < 30).sum() > 2000  # bars were painted
