"""The registries' common part: entries by name, each with a stable one-byte header id.

:data:`sparsecodec.masks.STRATEGIES`, :data:`sparsecodec.decoders.DECODERS` and
:data:`sparsecodec.colour.COLOUR_MODES` are :class:`Registry` instances; their entries are
frozen dataclasses with at least ``name`` and ``id``.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from .errors import OptionError


class _Entry(Protocol):
    name: str
    id: int


E = TypeVar("E", bound=_Entry)


class Registry(dict[str, E], Generic[E]):
    """A ``dict`` name -> entry, in registration order, with unique names and ids.

    Parameters
    ----------
    what : str
        What an entry is, for messages (``"decoder"``: "unknown decoder 'x' (choose from ...)").
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def add(self, entry: E) -> E:
        """Register ``entry``; a name or id used before, or an id beyond a byte, is an error
        of the program (ids are in every bitstream and must never change)."""
        if entry.name in self or any(e.id == entry.id for e in self.values()):
            raise ValueError(f"{self.what} {entry.name!r} or id {entry.id} registered twice")
        if not 0 <= entry.id <= 255:
            raise ValueError(f"{self.what} id {entry.id} does not fit in the header byte")
        self[entry.name] = entry
        return entry

    def entry(self, name: object) -> E:
        """The entry ``name``, or an :class:`~sparsecodec.errors.OptionError` naming the
        choices."""
        try:
            return self[name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise OptionError(
                f"unknown {self.what} {name!r} (choose from {', '.join(self)})"
            ) from None

    def by_id(self, id: int) -> E | None:
        """The entry with header id ``id``, or None."""
        return next((e for e in self.values() if e.id == id), None)
