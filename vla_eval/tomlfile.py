"""TOML files read once per process: a cache keyed by the file's path, mtime and size.

Protocol files are read by every ``get_suite`` (the runner, each env worker, the report over
many runs); a worker building N envs or a report over N runs parses each file once. A file
that changes on disk is read again. Callers get their own copy of the parsed document.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Union

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: a suite env on an older interpreter (habitat-sim: 3.9)
    import tomli as tomllib


@functools.lru_cache(maxsize=256)
def _parse(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def read_toml(path: Union[str, Path]) -> dict[str, Any]:
    """The parsed TOML document at ``path`` (parsed again only when the file changed)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return copy.deepcopy(_parse(real, st.st_mtime_ns, st.st_size))


def cache_info() -> Any:
    """``functools`` cache statistics (``misses`` counts the parses)."""
    return _parse.cache_info()
