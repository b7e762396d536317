"""Remote policies over openpi's websocket protocol: ``--policy openpi://HOST:PORT``.

``client`` is the harness side (a Policy), ``mapping`` the per-suite observation keys, shared
with ``vla-eval serve``. websockets is imported only when a connection is opened.
"""

from vla_eval.policies.openpi.client import OpenpiPolicy, RemotePolicyError

__all__ = ["OpenpiPolicy", "RemotePolicyError"]

POLICY_SCHEMES = {"openpi": "vla_eval.policies.openpi:OpenpiPolicy"}
SERVE_CODECS = {"openpi": "vla_eval.policies.openpi.mapping:CODEC"}
