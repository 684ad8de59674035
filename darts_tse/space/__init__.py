"""The NB201 search space: ops, search cell, supernet and genotypes."""
from .genotype import EDGES, NUM_EDGES, NUM_OPS, OPS, Genotype, GenotypeError
from .supernet import NB201SearchNetwork

__all__ = ["EDGES", "NUM_EDGES", "NUM_OPS", "OPS", "Genotype", "GenotypeError", "NB201SearchNetwork"]
