"""One prepared GPU check (``python -m benchmarks.gpu_check``); see ``__main__`` and the README.

Parts: (a) the full-size Qwen-VLA's latency and throughput, (b) LIBERO steps/s with EGL,
(c) libero_spatial end to end with the full-size model as one replica, (d) (c)'s wall time
against DESIGN's bound. ``--dry-run`` runs every part on the CPU with small settings.
"""
