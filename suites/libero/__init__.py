"""LIBERO (libero_spatial, libero_object, libero_goal, libero_10, libero_90; each also as ``*_openvla``).

Nothing here imports the simulator; ``driver`` does, when an env is made.
"""

_MEMBERS = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
# The suites as openpi's loop runs them (seed 7), and the "openvla" variant of protocol.toml
# (OpenVLA / OpenVLA-OFT's loop, env seed 0).
SUITES = {
    name + variant: "vla_eval.suites.libero.suite:LiberoSuite" for variant in ("", "_openvla") for name in _MEMBERS
}
