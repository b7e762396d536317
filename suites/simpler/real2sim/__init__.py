"""SimplerEnv Google robot suites (simpler_google_vm, simpler_google_va) on the original SimplerEnv.

Registered by the parent package; this folder has its own env.toml because the original
SimplerEnv (ManiSkill2_real2sim) pins SAPIEN 2.2, which cannot share an environment with
ManiSkill3. Not yet run against the simulator.
"""
