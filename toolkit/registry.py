"""One small registry type for models, runtimes and exporters (skl2onnx/timm's pattern).

Registering a name twice is refused, and a failed lookup names the closest registered
names and where to list them all, so a typo teaches instead of failing blankly.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def first_doc_line(fn: Callable) -> str:
    """The first line of a function's docstring: the one-line summary listings show."""
    return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""


class Registry(Generic[T]):
    """Named entries in registration order.

    Args:
        kind: what an entry is ('model', 'runtime'), for messages.
        listing: the command that lists them all, for messages.
    """

    def __init__(self, kind: str, listing: str):
        self.kind = kind
        self.listing = listing
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a duplicate or empty name is refused."""
        if not name:
            raise ValueError(f"A {self.kind} needs a non-empty name.")
        if name in self._entries:
            raise ValueError(f"{self.kind.capitalize()} '{name}' is already registered.")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name gets the closest names and the list."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(
                f"Unknown {self.kind} '{name}'.{hint} Known {self.kind}s: "
                f"{', '.join(self._entries)} (see `{self.listing}`)."
            ) from None

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
