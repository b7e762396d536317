"""Wire codecs of ``vla-eval serve``: how a served frame's observation keys map to an Observation.

The core names none: a policy package declares ``SERVE_CODECS = {name: "module:Codec"}``
(policies/openpi: ``"openpi"``, openpi's observation keys per suite), other distributions use the
``vla_eval.serve_codecs`` entry-point group. The server speaks openpi's websocket protocol and
uses the ``openpi`` codec unless told otherwise.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from vla_eval.registry import Discovery, Registry

DEFAULT_CODEC = "openpi"


class ServeCodec(Protocol):
    """What the server needs of a wire format (a frozen record in the policy package)."""

    episode_key: str  # frame key of the episode id (clients that know vla-eval serve send it)
    step_key: str  # frame key of the step index
    mapping: Callable[[str], Any]  # mapping name -> mapping (``.name``, ``.from_wire(frame)``)
    mapping_for_embodiment: Callable[[str], Any]  # a suite's embodiment tag -> its mapping


SERVE_CODECS: Registry[ServeCodec] = Registry(
    "serve codec", Discovery("SERVE_CODECS", ("vla_eval.policies",), "vla_eval.serve_codecs")
)


def get_codec(name: str = DEFAULT_CODEC) -> ServeCodec:
    return SERVE_CODECS.get(name)
