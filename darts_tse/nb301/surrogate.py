"""The NB301 surrogate (YAHPO Gym v2, one ONNX graph) as a benchmark of DARTS-space genotypes.

What a number is: NB301's prediction of the validation accuracy that NB301's own training protocol (8 cells, C = 32,
100 epochs, cutout, MixUp, auxiliary head, CIFAR-10, NB301's validation split) reaches at the given epoch (98 by
default, the last the surrogate knows). It is a fitted model (~60k trained architectures), not a look-up, and not
DARTS' 20-cell, 600-epoch test error. Every result carries :data:`NB301_LABEL` (with its epoch).

The user points the project at their own copy of ``model_v2.onnx``; :func:`load_benchmark` refuses a file that is not
ONNX or whose inputs and outputs are not the surrogate's, and accepts silently a file with the published sha256.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from ..darts_space.genotype import CELL_TYPES, NUM_NODES, DartsGenotype
from .encoding import COLUMNS, EDGE_CODES, INPUT_CODES, NA

MODEL_SHA256 = "e7168d495cf7fe6419b69234a052571536c2a5f6d7a8a2aead4e9d04dffac1d6"  # model_v2.onnx as published
MAX_EPOCH = 98
DEFAULT_EPOCH = 98
BATCH = 1000  # genotypes per session run


def nb301_label(epoch: int = DEFAULT_EPOCH) -> str:
    """The label of every NB301 number: ``NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98``."""
    return f"NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch {epoch}"


NB301_LABEL = nb301_label(DEFAULT_EPOCH)

GenotypeLike = Union[DartsGenotype, str]


class NB301Error(RuntimeError):
    """A file that is not the NB301 surrogate, or a bad query; the message names the problem and the fix."""


@dataclass(frozen=True)
class NB301Result:
    """The surrogate's prediction for one genotype at one epoch (accuracy in %, as every accuracy of this project)."""

    genotype: str
    epoch: int
    valid_accuracy: float  # %
    valid_loss: float  # cross-entropy
    runtime_s: float  # NB301's training time up to this epoch, seconds
    label: str

    def to_dict(self) -> dict:
        """``{"label", "genotype", "epoch", "valid_accuracy", "valid_loss", "runtime_s"}`` (JSON-ready)."""
        return {"label": self.label, "genotype": self.genotype, "epoch": self.epoch,
                "valid_accuracy": self.valid_accuracy, "valid_loss": self.valid_loss, "runtime_s": self.runtime_s}


def as_darts_genotype(arch: GenotypeLike) -> DartsGenotype:
    """A DartsGenotype from itself or DARTS' ``Genotype(...)`` literal (GenotypeError names a malformed literal)."""
    if isinstance(arch, DartsGenotype):
        return arch
    if isinstance(arch, str):
        return DartsGenotype.from_str(arch)
    raise NB301Error(f"the NB301 surrogate takes DARTS-space genotypes, got {type(arch).__name__} "
                     "(an NB201 cell cannot be queried here: use --space nb201 with an NB201 benchmark)")


def encode(genotype: DartsGenotype) -> np.ndarray:
    """The surrogate's 34 category codes of one genotype (``x_cat`` row, int32), per /work/shared/nb301/README.md:
    per cell, each of the 14 edges holds its op or ``#na#``, and each node 1..3 (state n = 3, 4, 5) its two inputs
    sorted and joined with ``_``."""
    values: dict[str, str] = {}
    for cell_type in CELL_TYPES:
        edges = genotype.edges(cell_type)
        for e in range(14):
            values[f"edge_{cell_type}_{e}"] = edges.get(e, NA)
        cell = genotype.cell(cell_type)
        for node in range(1, NUM_NODES):
            a, b = sorted(j for _, j in cell[2 * node:2 * node + 2])
            values[f"inputs_node_{cell_type}_{node + 2}"] = f"{a}_{b}"
    row = [EDGE_CODES[values[c]] if c.startswith("edge") else INPUT_CODES[int(c[-1])][values[c]] for c in COLUMNS]
    return np.asarray(row, dtype=np.int32)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NB301Surrogate:
    """``query(genotype)`` / ``query_many(genotypes)`` on the NB301 surrogate; results cached per (genotype, epoch).

    ``threads`` bounds onnxruntime's threads (1 by default, like every run of this project).
    """

    source: str
    has_test = False

    def __init__(self, path: str | Path, *, threads: int = 1):
        path = Path(path).expanduser()
        if not path.is_file():
            raise NB301Error(f"NB301 surrogate {path} is not a file; pass your copy of YAHPO Gym's nb301 model_v2.onnx")
        self.source = str(path)
        self.sha256 = file_sha256(path)
        self.verified = self.sha256 == MODEL_SHA256
        self._session = _open_session(path, threads)
        if not self.verified:
            warnings.warn(f"{path} has the NB301 surrogate's inputs and outputs but not the published model_v2.onnx "
                          f"(sha256 {self.sha256[:12]}…, expected {MODEL_SHA256[:12]}…); its numbers are not the checked ones",
                          stacklevel=2)
        self._cache: dict[tuple[DartsGenotype, int], NB301Result] = {}

    def query(self, genotype: GenotypeLike, *, epoch: int = DEFAULT_EPOCH) -> NB301Result:
        """The surrogate's numbers for one genotype at ``epoch`` (1..98)."""
        return self.query_many([genotype], epoch=epoch)[0]

    def query_many(self, genotypes: Iterable[GenotypeLike], *, epoch: int = DEFAULT_EPOCH) -> list[NB301Result]:
        """Batched: one session run per 1,000 genotypes not yet cached; results in the order given."""
        epoch = _check_epoch(epoch)
        cells = [as_darts_genotype(g).canonical() for g in genotypes]
        todo = list(dict.fromkeys(c for c in cells if (c, epoch) not in self._cache))
        for start in range(0, len(todo), BATCH):
            chunk = todo[start:start + BATCH]
            for cell, result in zip(chunk, self._predict(chunk, epoch)):
                self._cache[cell, epoch] = result
        return [self._cache[c, epoch] for c in cells]

    def _predict(self, cells: Sequence[DartsGenotype], epoch: int) -> list[NB301Result]:
        x_cat = np.stack([encode(c) for c in cells])
        x_cont = np.full((len(cells), 1), float(epoch), dtype=np.float32)
        (out,) = self._session.run(["output"], {"x_cat": x_cat, "x_cont": x_cont})
        label = nb301_label(epoch)
        results = []
        for cell, row in zip(cells, np.asarray(out, dtype=np.float64)):
            if not all(math.isfinite(v) for v in row[:3]):
                raise NB301Error(f"the surrogate returned non-finite numbers for {cell.to_str()}; is {self.source} intact?")
            results.append(NB301Result(genotype=cell.to_str(), epoch=epoch, valid_accuracy=100.0 * float(row[0]),
                                       valid_loss=float(row[1]), runtime_s=float(row[2]), label=label))
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


def _check_epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 1 <= epoch <= MAX_EPOCH:
        raise NB301Error(f"the NB301 surrogate knows epochs 1..{MAX_EPOCH}, got {epoch!r}")
    return int(epoch)


_EXPECTED_INPUTS = {"x_cat": ("tensor(int32)", len(COLUMNS)), "x_cont": ("tensor(float)", 1)}


def _open_session(path: Path, threads: int):
    """An onnxruntime session of ``path``; NB301Error unless it is ONNX with the surrogate's inputs and output."""
    import onnxruntime as ort  # imported on use: only the NB301 look-up needs it

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # no onnxruntime chatter on stderr
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for every unreadable model
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise NB301Error(f"{path} is not an ONNX model onnxruntime can read ({reason}); pass YAHPO Gym's nb301 "
                         "model_v2.onnx") from None
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}
    ok = set(inputs) == set(_EXPECTED_INPUTS) and all(
        inputs[name][0] == kind and len(inputs[name][1]) == 2 and inputs[name][1][1] == width
        for name, (kind, width) in _EXPECTED_INPUTS.items())
    ok = ok and set(outputs) == {"output"} and len(outputs["output"][1]) == 2 and outputs["output"][1][1] == 4
    if not ok:
        raise NB301Error(f"{path} is an ONNX model but not the NB301 surrogate (inputs {sorted(inputs)}, outputs "
                         f"{sorted(outputs)}; expected x_cat int32 [batch, 34], x_cont float [batch, 1] → output [batch, 4])")
    return session


def load_benchmark(path: str | Path, *, threads: int = 1) -> NB301Surrogate:
    """The DARTS-space benchmark at ``path``: YAHPO Gym's NB301 surrogate ``model_v2.onnx``. Refuses, in one line,
    NB201 benchmarks (a table, ``.pth``, NATS directory, curve store) and files that are not the surrogate."""
    path = Path(path).expanduser()
    if not path.exists():
        raise NB301Error(f"benchmark path {path} does not exist; pass your copy of YAHPO Gym's nb301 model_v2.onnx")
    name = path.name.lower()
    if path.is_dir() or name.endswith((".csv", ".pth", ".npz", ".pickle.pbz2")):
        raise NB301Error(f"{path} is an NB201 benchmark; the DARTS space takes the NB301 surrogate model_v2.onnx "
                         "(or use --space nb201)")
    return NB301Surrogate(path, threads=threads)


__all__ = ["DEFAULT_EPOCH", "MODEL_SHA256", "NB301_LABEL", "NB301Error", "NB301Result",
           "NB301Surrogate", "encode", "load_benchmark", "nb301_label"]
