"""DOMINO dynamic manipulation (a RoboTwin 2.0 fork): suites ``domino`` and
``domino_per_action`` (demo_clean_dynamic, alpha = 0.1; they differ in when the end-of-call checks run).

Not yet run against the simulator (SAPIEN 3.0.0b1, planners, hub assets). Nothing here imports it.
"""

SUITES = {
    "domino": "vla_eval.suites.domino.suite:DominoSuite",  # end-of-call checks per executed chunk
    "domino_per_action": "vla_eval.suites.domino.suite:DominoSuite",  # ... after every action
}
