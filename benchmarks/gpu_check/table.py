"""The GPU check's one table (Markdown), from its results dict."""

from __future__ import annotations


def _f(x, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def render(r: dict) -> str:
    mode = "DRY RUN on the CPU (small sizes; no GPU figure)" if r.get("dry_run") else "GPU"
    lines = [f"GPU check, {mode}: {r.get('machine', '')}", "", "| part | measure | value |", "|---|---|---|"]
    add = lambda part, what, value: lines.append(f"| {part} | {what} | {value} |")  # noqa: E731

    a = r.get("a")
    if a is not None:
        if "skipped" in a:
            add("a", "Qwen-VLA latency", f"skipped: {a['skipped']}")
        else:
            m = a["meta"]
            add(
                "a",
                "model",
                f"backbone {m['backbone_params'] / 1e9:.2f}B + DiT {m['dit_params'] / 1e9:.2f}B, "
                f"{m['dtype']}, {m['device_name']}, built in {m['build_s']:.0f} s",
            )
            add("a", "linear-attention kernels", ", ".join(m["kernels"]))
            for row in a["results"]:
                add(
                    "a",
                    f"batch {row['batch']}: p50 / p90 ms (VLM + DiT)",
                    f"{row['latency_ms_p50']:.1f} / {row['latency_ms_p90']:.1f} ({row['vlm_ms_p50']:.1f} + "
                    f"{row['dit_ms_p50']:.1f}), {row['throughput_obs_per_s']:.1f} obs/s, "
                    f"peak {_f(row['peak_mem_gib'])} GiB",
                )
    b = r.get("b")
    if b is not None:
        if "skipped" in b:
            add("b", "LIBERO rendering", f"skipped: {b['skipped']}")
        else:
            for run in b["runs"]:
                add(
                    "b",
                    f"LIBERO {run['workers']} worker(s), MUJOCO_GL={b['gl']}, 2 cameras "
                    f"{'x'.join(map(str, next(iter(run['images'].values()), [])))}",
                    f"{run['steps_per_s_per_worker']:.1f} steps/s per worker (min {run['steps_per_s_min']:.1f}), "
                    f"{run['steps_per_s_total']:.1f} in all; env build {run['env_build_s_mean']:.1f} s",
                )
    c = r.get("c")
    if c is not None:
        if "skipped" in c:
            add("c", "end to end", f"skipped: {c['skipped']}")
            add("d", "wall / bound", "skipped (needs c)")
        else:
            add(
                "c",
                f"libero_spatial, {c['workers']} workers, 1 replica",
                f"{c['episodes']} episodes ({c['errors']} errors), {c['steps']} steps in {c['wall_s']:.1f} s: "
                f"{c['episodes_per_min']:.1f} episodes/min",
            )
            add(
                "c",
                "batching",
                f"{c['calls']} calls, mean batch {c['mean_batch']:.2f}, inference {c['inference_s']:.1f} s",
            )
            util = c.get("gpu_util_mean")
            add(
                "c",
                "GPU utilisation",
                f"{util:.0f}% mean (p50 {c['gpu_util_p50']}%)"
                if util is not None
                else f"n/a: {c.get('gpu_util_note', '')}",
            )
            k = c["cost"]
            add(
                "d",
                "wall / bound",
                f"{k['wall_s']:.1f} s / max(sim {k['sim_total_s']:.1f} s / {k['workers']}, "
                f"inference {k['inference_total_s']:.1f} s / {k['replicas']}) = {k['bound_s']:.1f} s: "
                f"ratio {k['ratio']:.2f}",
            )
    lines.append("")
    lines.append(f"total {r.get('total_s', 0):.0f} s")
    return "\n".join(lines)
