"""The search spaces behind one protocol: ``get_space(name)`` gives a :class:`SearchSpace` ("nb201", the default, or
"darts") that builds its supernet, draws its paths, reads its benchmark and writes its record fields, so that the
loop, the architects, the samplers, the tasks, tracking and the readers never branch on the space.

``space_info(name)`` gives the torch-free half (genotypes, names, record fields) that the readers of run
directories use; ``get_space`` (and the whole spaces) import torch on first use (PEP 562), so that the readers load
no torch.
"""
from .base import SearchSpace, SpaceError, SpaceInfo, Supernet
from .info import DEFAULT_SPACE, info_of, list_spaces, space_info

__all__ = ["DEFAULT_SPACE", "SearchSpace", "SpaceError", "SpaceInfo", "Supernet", "get_space", "info_of",
           "list_spaces", "space_info"]


def __getattr__(name: str):
    """The torch-bound registry, imported when first asked for (PEP 562)."""
    if name == "get_space":
        from .registry import get_space

        return get_space
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
