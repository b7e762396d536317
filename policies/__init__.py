"""Policy adapters shipped with vla-eval (installed as ``vla_eval.policies``).

Each subpackage declares what it registers, as ``"module:Attr"`` strings imported only when used
(:mod:`vla_eval.policy` finds them; its ``__init__`` imports no torch):

- ``POLICIES = {name: "module:Class"}``: ``--policy NAME``;
- ``POLICY_SCHEMES = {scheme: "module:Class"}``: ``--policy SCHEME://ADDRESS``;
- ``SERVE_CODECS = {name: "module:Codec"}``: wire formats of ``vla-eval serve``;
- ``COMMANDS = {name: "module:function"}``: ``vla-eval NAME`` subcommands (suite packages may too).

Other distributions register the same through the entry-point groups ``vla_eval.policies``,
``vla_eval.policy_schemes``, ``vla_eval.serve_codecs`` and ``vla_eval.commands``.
"""
