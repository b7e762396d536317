"""Name -> factory registries, filled by decorators or by lazy "module:attr" strings.

Lazy entries keep the core free of simulator and torch imports: a suite or policy module
is imported only when its name is asked for. The core names no adapter: a registry with a
:class:`Discovery` fills itself, on first use, from the adapter packages (``suites/<name>/``,
``policies/<name>/``) that declare a mapping of names to ``"module:Attr"`` strings, and from an
entry-point group through which other distributions register theirs.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Optional, Tuple, TypeVar

from vla_eval.errors import UsageError

T = TypeVar("T")


def import_object(path: str) -> Any:
    """Import ``package.module:Attr`` (or ``package.module.Attr``)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise UsageError(f"{path!r} is not of the form package.module:Name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(f"cannot import {module_name!r} (from {path!r}): {e}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


@dataclass(frozen=True)
class Discovery:
    """Where a registry's entries come from, besides explicit ``register`` calls.

    Each subpackage of each of ``packages`` (``vla_eval.suites.libero`` ...) is imported and its
    module attribute ``attr``, a mapping ``{name: "module:Attr"}``, registered; then each entry
    point of ``group`` (``name = "module:Attr"`` in another distribution's metadata). An adapter
    package's ``__init__`` must therefore import no simulator and no torch.
    """

    attr: str
    packages: Tuple[str, ...]
    group: str

    def entries(self) -> Iterator[Tuple[str, str]]:
        for package in self.packages:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                if info.ispkg:
                    module = importlib.import_module(f"{package}.{info.name}")
                    yield from getattr(module, self.attr, {}).items()
        try:
            from importlib.metadata import entry_points

            found = [(ep.name, ep.value) for ep in entry_points(group=self.group)]
        except Exception:  # pragma: no cover - broken third-party metadata must not break the core
            found = []
        yield from found


class Registry(Generic[T]):
    def __init__(self, kind: str, discovery: Optional[Discovery] = None) -> None:
        self.kind = kind
        self.discovery = discovery
        self._entries: dict[str, T | str] = {}
        self._discovered = discovery is None

    def discover(self) -> None:
        """Register the discovered entries (once; explicit registrations stay)."""
        if self._discovered or self.discovery is None:
            return
        self._discovered = True  # first: a discovered package may look names up while it imports
        for name, target in self.discovery.entries():
            self._add(name, target)

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | None:
        """``registry.register("name", "pkg.mod:Attr")`` or ``@registry.register("name")``."""
        if obj is not None:
            self._add(name, obj)
            return None

        def deco(o: T) -> T:
            self._add(name, o)
            return o

        return deco

    def _add(self, name: str, obj: T | str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing is not obj and not isinstance(existing, str):
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        self.discover()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UsageError(f"unknown {self.kind} {name!r} (known: {known})")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_object(entry)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
