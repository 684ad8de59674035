"""The DARTS search space: genotypes (torch-free), the DARTS ops, the search cell and the supernet.

``from darts_tse.darts_space import DartsSearchNetwork`` imports the supernet (and torch) on first use, so that the
torch-free readers of run directories can use genotypes without loading torch.
"""
from .genotype import (
    CELL_TYPES,
    DARTS_OPS,
    DARTS_OPS_NO_NONE,
    DARTS_V1,
    DARTS_V2,
    EDGES,
    NUM_EDGES,
    NUM_NODES,
    PARAMETER_FREE_OPS,
    DartsGenotype,
    GenotypeError,
    edge_index,
)

__all__ = [
    "CELL_TYPES",
    "DARTS_OPS",
    "DARTS_OPS_NO_NONE",
    "DARTS_V1",
    "DARTS_V2",
    "EDGES",
    "NUM_EDGES",
    "NUM_NODES",
    "PARAMETER_FREE_OPS",
    "DartsGenotype",
    "DartsSearchNetwork",
    "GenotypeError",
    "edge_index",
    "make_op",
]

_LAZY = {"DartsSearchNetwork": ".supernet", "make_op": ".ops"}


def __getattr__(name: str):
    """The torch-bound names, imported when first asked for (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
