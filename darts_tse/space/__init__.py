"""The NB201 search space: genotypes (torch-free), the NB201 ops, the fused search cell and the supernet.

``from darts_tse.space import NB201SearchNetwork`` imports the supernet (and torch) on first use, so that the
torch-free readers of run directories can use genotypes without loading torch.
"""
from .genotype import EDGES, NUM_EDGES, NUM_OPS, OPS, Genotype, GenotypeError

__all__ = ["COMPILE_CHECKED_TORCH", "EDGES", "NUM_EDGES", "NUM_OPS", "OPS", "Genotype", "GenotypeError",
           "NB201SearchNetwork", "SearchCell", "compile_checked"]


def __getattr__(name: str):
    """The torch-bound names, imported when first asked for (PEP 562)."""
    if name in ("NB201SearchNetwork", "COMPILE_CHECKED_TORCH", "compile_checked"):
        from . import supernet

        return getattr(supernet, name)
    if name == "SearchCell":
        from .cell import SearchCell

        return SearchCell
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
