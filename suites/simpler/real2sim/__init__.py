"""SimplerEnv's -v0 suites on the original simulator (ManiSkill2_real2sim, SAPIEN 2.2.2).

simpler_widowx (widowx.toml), simpler_google_vm and simpler_google_va (google.toml), registered by
the parent package. This folder has its own env.toml: SAPIEN 2.2.2 pins numpy < 2 and cannot share
an environment with ManiSkill3. Ran here on CPU through the wrapper ICD (suites/sapien_render) with
the offline copy of ManiSkill2_real2sim; only driver.py imports the simulator.
"""
