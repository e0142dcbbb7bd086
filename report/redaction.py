"""Keep the storage options of a URL input (endpoints, keys, tokens) out of what a run shows.

The options go to fsspec as they are, but every place that shows or saves settings (the page,
the JSON, logs, error messages, a ``repr``) sees only their names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

REDACTED = "<redacted>"
# Values shorter than this are not searched for in messages: they would match ordinary words.
_SHORTEST_SECRET = 4


class StorageOptions(Mapping):
    """The ``[input] storage_options`` table, read-only, whose ``repr`` never shows a value."""

    def __init__(self, options: Mapping[str, Any] | None = None):
        self._options = dict(options or {})

    def __getitem__(self, key: str) -> Any:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return f"StorageOptions({self.shown()!r})"

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._options)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageOptions) and self._options == other._options

    def plain(self) -> dict[str, Any]:
        """The options themselves, for fsspec alone."""
        return dict(self._options)

    def shown(self) -> dict[str, str]:
        """What may be shown or saved: each option's name, its value redacted."""
        return {key: REDACTED for key in sorted(self._options)}


def secret_values(options: Mapping[str, Any]) -> list[str]:
    """Every text value in ``options``, nested tables and lists included, longest first."""
    found: list[str] = []
    stack: list[Any] = list(options.values())
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= _SHORTEST_SECRET:
                found.append(text)
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, options: Mapping[str, Any] | None) -> str:
    """``text`` with every value of ``options`` in it replaced, for messages from back ends."""
    for value in secret_values(options or {}):
        text = text.replace(value, REDACTED)
    return text
