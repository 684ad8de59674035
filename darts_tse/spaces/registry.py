"""The spaces themselves (torch-bound): ``get_space(name)`` for the loop, the tasks, the samplers and the tools."""
from __future__ import annotations

from .base import SearchSpace
from .darts import DartsSpace
from .info import list_spaces, space_info
from .nb201 import NB201Space

_SPACES: dict[str, SearchSpace] = {space.name: space for space in (NB201Space(), DartsSpace())}
assert sorted(_SPACES) == sorted(list_spaces()), "every space has a description and a whole space"


def get_space(name: str | None) -> SearchSpace:
    """The space called `name` (None: the default, nb201); SpaceError for an unknown name."""
    return _SPACES[space_info(name).name]
