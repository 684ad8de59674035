"""The torch-free registry of the spaces' descriptions: what the readers of run directories need (genotypes, names,
record fields, benchmark labels) without building anything."""
from __future__ import annotations

from .base import SpaceError, SpaceInfo
from .darts_info import DartsInfo
from .nb201_info import NB201Info

DEFAULT_SPACE = "nb201"  # the space of every run recorded before runs named their space
_INFOS: dict[str, SpaceInfo] = {info.name: info for info in (NB201Info(), DartsInfo())}


def list_spaces() -> list[str]:
    """The names of the search spaces, the default first."""
    return [DEFAULT_SPACE] + sorted(name for name in _INFOS if name != DEFAULT_SPACE)


def space_info(name: str | None) -> SpaceInfo:
    """The description of the space called `name` (None: the default, nb201); SpaceError for an unknown name."""
    name = DEFAULT_SPACE if name is None else name
    if name not in _INFOS:
        raise SpaceError(f"unknown search space {name!r}; choose one of: {', '.join(list_spaces())}")
    return _INFOS[name]


def info_of(config: dict) -> SpaceInfo:
    """The space of a run from its config dict (config.json, a checkpoint's config): its "space", else nb201."""
    return space_info(config.get("space"))
