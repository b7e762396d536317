"""SimplerEnv: the original -v0 protocol (ManiSkill2_real2sim), ManiSkill3's -v1 port, bundled ManiSkill3 tasks.

- ``simpler_widowx``: SimplerEnv's published WidowX/Bridge protocol (``scripts/octo_bridge.sh``) on
  the original simulator, ManiSkill2_real2sim on SAPIEN 2.2.2, env ids ``-v0``; in ``real2sim/``
  with its own environment, beside the Google robot suites ``simpler_google_vm`` / ``simpler_google_va``.
- ``simpler_widowx_ms3``: ManiSkill3's ``-v1`` port of the four Bridge tasks (mani-skill 3.0.1,
  SAPIEN 3), with SimplerEnv's ManiSkill3 loop. Another simulator and protocol: not comparable to
  ``-v0`` numbers, and no published reference row attaches to it.
- ``maniskill3``: ManiSkill3 tasks that ship with the package (no download), run by the same
  driver; for integration tests where the Bridge assets are absent. Not a benchmark.

Nothing here imports a simulator; ``driver`` modules do, when an env is made.
"""

SUITES = {
    "simpler_widowx": "vla_eval.suites.simpler.real2sim.suite:SimplerWidowXSuite",
    "simpler_google_vm": "vla_eval.suites.simpler.real2sim.suite:SimplerGoogleSuite",
    "simpler_google_va": "vla_eval.suites.simpler.real2sim.suite:SimplerGoogleSuite",
    "simpler_widowx_ms3": "vla_eval.suites.simpler.suite:SimplerWidowXManiSkill3Suite",
    "maniskill3": "vla_eval.suites.simpler.suite:ManiSkill3Suite",
}
