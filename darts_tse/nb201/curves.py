"""The NB201 learning-curve store: per architecture, dataset and epoch, what a query-based search looks up.

One compressed ``.npz`` file (written by :func:`darts_tse.nb201.curves_export.export_curves` from a NATS-Bench topology
directory through ``nats_bench``, ``fast_mode=True``, ``hp='200'``). Each array is decompressed when first used, so
opening a store reads only its metadata and index list.

Each column comes from ``get_more_info(index, SOURCE, iepoch=e, hp='200', is_random=False)`` (the mean over the
benchmark's seeds; ``is_random=seed`` in the optional per-seed arrays), epoch e = 0..E-1 stored as epoch e+1:

===============  ===========================================================================================
column           ``get_more_info`` field
===============  ===========================================================================================
``train_loss``   ``train-loss`` (mean minibatch training loss of the epoch)
``valid_loss``   ``valid-loss``: x-valid; NaN where absent (CIFAR-100, ImageNet16-120 evaluate x-valid only at
                 the last of the 200 epochs)
``valid_acc``    ``valid-accuracy``: x-valid, in %; NaN where absent, as ``valid_loss``
``valtest_acc``  ``valtest-accuracy``: ori-test = x-valid ∪ x-test, in % (CIFAR-100, ImageNet16-120 only, every
                 epoch; NaN for CIFAR-10, whose ``cifar10-valid`` run reports no valtest)
``epoch_time``   ``train-all-time`` at e minus at e-1, seconds (``train-all-time`` is cumulative, ``train-per-time``
                 its running mean, so the difference is the epoch's own training time)
``total_time``   ``train-all-time`` at ``iepoch=None``: the training time of all 200 epochs, seconds
``final_valid``  the NB201 valid number (``api_backend.API_SOURCES``): ``cifar10-valid`` / ``cifar100`` /
                 ``ImageNet16-120`` → ``valid-accuracy`` (x-valid), ``iepoch=None``
``final_test``   the NB201 test number (``API_SOURCES``): ``cifar10`` → ``test-accuracy`` (ori-test, trained on all
                 50k), ``cifar100`` / ``ImageNet16-120`` → ``test-accuracy`` (x-test), ``iepoch=None``; always the
                 mean over seeds
===============  ===========================================================================================

SOURCE (the run whose curves a search sees) is ``cifar10-valid`` for CIFAR-10 (trained on the 25k train half, so it
has a validation split; ``cifar10`` trains on all 50k and reports no validation numbers), ``cifar100`` and
``ImageNet16-120`` for the others. Per-epoch columns are float32 (relative error ≤ 6e-8 against nats_bench's
float64), the final numbers float64. Keys: ``meta`` (JSON text), ``indices`` (NB201 indices, ascending), then
``{dataset}.{column}`` and, with per-seed arrays, ``{dataset}.seed.{column}`` of shape (N, len(seeds), E), the seed
axis in the order of ``meta["seeds"]`` (SEEDS for an export from NATS-Bench).

A store may instead hold **from-scratch training runs** of NB201 cells (``meta["origin"] == "training runs"``,
written by ``analysis.train_curves.export_training_curves`` from ``scripts/train_genotype.py`` runs): its one dataset
is the runs' ``--dataset`` (``npz``, ``cifar10``, ``synthetic``, ...), ``train_loss`` the runs' mean training loss
of each epoch, ``epoch_time`` their measured wall-clock ``seconds`` of each epoch (training and the test split's
evaluation, on whatever machine ran them), ``total_time`` the sum over their epochs, ``final_test`` the mean over the
seeds of the last epoch's test accuracy on the data's test split; those runs have no validation split, so
``valid_loss``, ``valid_acc``, ``valtest_acc`` and ``final_valid`` are NaN (never the test curve under a validation
name). Its meta says where the numbers come from: ``data`` (dataset, file, sha256), ``settings`` (protocol, C, N,
epochs, batch size, ...), ``seeds``, ``runs``, ``columns``. :meth:`CurveStore.truth_label` names its test number.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from functools import cached_property
from pathlib import Path

import numpy as np

from darts_tse.commands import invocation
from darts_tse.estimators import ArchitectureRecord, CurveSet, LearningCurve
from darts_tse.trust import unpickling_refused
from darts_tse.space.genotype import NUM_ARCHITECTURES, Genotype

from .base import (
    DATASETS,
    ArchitectureNotInBenchmark,
    BenchmarkError,
    BenchmarkResult,
    NB201Benchmark,
    SplitAccuracy,
    number_or_none,
)
from .labels import nb201_label

FORMAT = 1
HP = "200"
FULL_EPOCHS = 200
SEEDS: tuple[int, ...] = (777, 888, 999)  # the seeds of NB201's 200-epoch runs
CURVE_SOURCES: dict[str, str] = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
EPOCH_COLUMNS: tuple[str, ...] = ("train_loss", "valid_loss", "valid_acc", "valtest_acc", "epoch_time")
ARCH_COLUMNS: tuple[str, ...] = ("total_time", "final_valid", "final_test")
TIME_COLUMNS = ("epoch_time", "total_time")  # seconds, each > 0 (NaN where a seed lacks the record)
SEED_ARCH_COLUMNS: tuple[str, ...] = ("total_time", "final_valid")  # final_test stays the mean over seeds
NATS_ORIGIN, RUNS_ORIGIN = "nats-bench", "training runs"  # meta["origin"]: where a store's numbers come from
SMOKE_CAPS = ("steps_per_epoch", "max_train_samples", "image_size")  # named in a training-run store's labels when set
RUN_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "synthetic", "folder", "npz")


def export_hint() -> str:
    """How to make a curve store (naming the command the way the user runs this one)."""
    return f"make one with: {invocation('export-nb201-curves')} --nats DIR/NATS-tss-v1_0-3ffb9-simple -o curves.npz"


class CurveStoreError(BenchmarkError):
    """A curve store that cannot be read, or a look-up it cannot answer; the message names the fix."""


def check_output(output: Path, overwrite: bool) -> None:
    """CurveStoreError (one line) unless ``output`` may be written as a curve store: an ``.npz`` path, not a folder,
    absent or ``overwrite`` given."""
    if output.suffix != ".npz":
        raise CurveStoreError(f"the curve store is an .npz file; give -o {output.with_suffix('.npz').name}")
    if output.is_dir():
        raise CurveStoreError(f"-o {output} is a directory; give the path of the .npz file to write")
    if output.exists() and not overwrite:
        raise CurveStoreError(f"{output} exists; pass --overwrite to replace it, or choose another -o")


def column_key(dataset: str, column: str, per_seed: bool = False) -> str:
    """The npz key of one column: ``cifar10.train_loss``, ``cifar100.seed.valid_acc``."""
    return f"{dataset}.seed.{column}" if per_seed else f"{dataset}.{column}"


def store_keys(datasets, per_seed: bool) -> list[str]:
    """Every array key a store (or an export shard) with these datasets holds, besides meta and indices."""
    keys = []
    for dataset in datasets:
        keys += [column_key(dataset, c) for c in EPOCH_COLUMNS + ARCH_COLUMNS]
        if per_seed:
            keys += [column_key(dataset, c, True) for c in EPOCH_COLUMNS + SEED_ARCH_COLUMNS]
    return keys


class _Column:
    """A DatasetCurves attribute read from the store on first use."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, curves, owner=None):
        return self if curves is None else curves.column(self.name)


class DatasetCurves:
    """One dataset's arrays, row r = the store's r-th architecture: per-epoch columns (N, E), per-architecture (N,).

    Each column is decompressed when first used (a search reads two or three of them), then kept. ``seed`` is None
    for the mean over seeds, else the seed whose curves, ``total_time`` and ``final_valid`` these are (``final_test``
    is always the mean over seeds: the number a search is judged by).
    """

    train_loss = _Column()
    valid_loss = _Column()
    valid_acc = _Column()
    valtest_acc = _Column()
    epoch_time = _Column()
    total_time = _Column()
    final_valid = _Column()
    final_test = _Column()

    def __init__(self, store: CurveStore, dataset: str, seed: int | None) -> None:
        self.store, self.dataset, self.seed = store, dataset, seed
        self._columns: dict[str, np.ndarray] = {}

    @property
    def num_epochs(self) -> int:
        """E, the epochs each curve holds (200 unless the export kept fewer)."""
        return self.store.num_epochs

    def column(self, name: str) -> np.ndarray:
        """One column: float32 (N, E) for EPOCH_COLUMNS, float64 (N,) for ARCH_COLUMNS."""
        if name not in self._columns:
            self._columns[name] = self._read(name)
        return self._columns[name]

    def _read(self, name: str) -> np.ndarray:
        per_seed = self.seed is not None and name != "final_test"
        key = column_key(self.dataset, name, per_seed)
        path = self.store.path
        with _open_npz(path) as data:
            try:
                array = np.asarray(data[key])
            except (OSError, ValueError, zipfile.BadZipFile) as error:
                raise CurveStoreError(f"cannot read {key} from curve store {path} ({unpickling_refused(error) or error}); "
                                      f"export it again") from None
        if per_seed:
            if array.ndim < 2 or array.shape[1] != len(self.store.seeds):
                raise CurveStoreError(f"curve store {path} has {key} of shape {array.shape}, not one row per seed of "
                                      f"{list(self.store.seeds)}; it is damaged, export it again")
            array = array[:, self.store.seeds.index(self.seed)]
        epoch = name in EPOCH_COLUMNS
        expected = (len(self.store), self.num_epochs) if epoch else (len(self.store),)
        if array.shape != expected:
            raise CurveStoreError(f"curve store {path} has {key} of shape {array.shape}, expected {expected}; it is "
                                  f"damaged, export it again")
        if name in TIME_COLUMNS:  # a clock that charges these must move forward and end
            wrong = ~np.isnan(array) & ~((array > 0) & np.isfinite(array))
            if wrong.any():
                row = int(np.argwhere(wrong)[0][0])
                raise CurveStoreError(f"curve store {path} has {key} {float(array[wrong][0])!r} s for NB201 index "
                                      f"{int(self.store.indices[row])}, not a positive number of seconds (a query's "
                                      f"clock would stand still or run backwards); export it again")
        return array.astype(np.float32 if epoch else np.float64, copy=False)

    def learning_curve(self, row: int) -> LearningCurve:
        """Row ``row`` as an estimators LearningCurve (validation columns only where every epoch has them)."""
        valid_losses = self.valid_loss[row] if np.isfinite(self.valid_loss[row]).all() else None
        valid_accs = self.valid_acc[row] if np.isfinite(self.valid_acc[row]).all() else None
        return LearningCurve(self.train_loss[row].astype(float), valid_losses=valid_losses, valid_accs=valid_accs)


class CurveStore:
    """A learning-curve store opened for reading (see the module docstring for its columns).

    ``indices`` are the NB201 indices it holds, ascending: a search's space is these architectures. A partial store
    (an export of a subset, a fixture) works; :attr:`coverage` says how many of the 15,625 it holds.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CurveStoreError(f"curve store {self.path} not found; {export_hint()}")
        with _open_npz(self.path) as data:
            self.meta = _read_meta(data, self.path)
            self.indices = _read_indices(data, self.path)
            missing = [k for k in store_keys(self.datasets, self.per_seed) if k not in data.files]
        if missing:
            raise CurveStoreError(f"curve store {self.path} lacks the arrays {', '.join(missing[:4])}; it is damaged or "
                                  f"was not written by export_nb201_curves.py; {export_hint()}")
        self._rows = {int(index): row for row, index in enumerate(self.indices.tolist())}
        self._cache: dict[tuple[str, int | None], DatasetCurves] = {}

    # ---- what the store holds -----------------------------------------------------------------------------------
    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.meta["datasets"])

    @property
    def per_seed(self) -> bool:
        return bool(self.meta["per_seed"])

    @property
    def num_epochs(self) -> int:
        return int(self.meta["epochs"])

    @property
    def origin(self) -> str:
        """Where the numbers come from: NATS_ORIGIN (NB201's runs, the default of older stores) or RUNS_ORIGIN."""
        return self.meta.get("origin", NATS_ORIGIN)

    @property
    def from_training_runs(self) -> bool:
        """Whether the store holds from-scratch training runs (scripts/train_genotype.py), not NB201's numbers."""
        return self.origin == RUNS_ORIGIN

    @property
    def has_validation(self) -> bool:
        """Whether the store has a validation split (NB201's x-valid / valtest); training runs have none."""
        return not self.from_training_runs

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seed axis of the per-seed arrays (empty without them): NB201's SEEDS, or the training runs' seeds."""
        if not self.per_seed:
            return ()
        return tuple(self.meta.get("seeds") or SEEDS)

    def curve_source(self, dataset: str) -> str:
        """Whose curves these are: 'cifar10-valid' (NB201's run the curves come from), or 'training runs on npz'."""
        return f"training runs on {dataset}" if self.from_training_runs else CURVE_SOURCES[dataset]

    def truth_label(self, dataset: str) -> str:
        """What ``final_test`` is: 'NB201 cifar10 test accuracy (%), 200 epochs, mean over seeds', or for training
        runs 'from-scratch runs' test accuracy (%) on npz cifar10_subset.npz (test split), ... mean over seeds 0, 1'."""
        if not self.from_training_runs:
            return f"NB201 {nb201_label(dataset, 'test')} accuracy (%), {FULL_EPOCHS} epochs, mean over seeds"
        return f"from-scratch runs' test accuracy (%) on {self.data_label(dataset)} (its test split), {self.protocol_label}"

    def valid_label(self, dataset: str) -> str:
        """What ``final_valid`` is (NaN for training runs: they have no validation split)."""
        if not self.from_training_runs:
            return f"NB201 {nb201_label(dataset, 'valid')} accuracy (%), {FULL_EPOCHS} epochs, mean over seeds"
        return "none (NaN): the from-scratch training runs have no validation split"

    def clock_label(self) -> str:
        """What the clock's seconds are: NB201's training time, or the runs' measured wall time."""
        if not self.from_training_runs:
            return "NB201 training"
        return "the runs' measured wall time (training + test evaluation, on the machine that ran them)"

    def data_label(self, dataset: str) -> str:
        """'npz cifar10_subset.npz (5,170 train / 1,017 test images, data sha256 …)' for training runs (the sha256 of
        the images as loaded, from the runs' data record); the NB201 dataset otherwise."""
        if not self.from_training_runs:
            return f"NB201 {dataset}"
        data = self.meta.get("data") or {}
        source = data.get("source")
        digest = data.get("sha256")
        name = f"{dataset} {Path(source).name}" if isinstance(source, str) and source else dataset
        about = [f"{data['train_images']:,} train / {data['test_images']:,} test images"] if all(
            isinstance(data.get(key), int) for key in ("train_images", "test_images")) else []
        about += [f"data sha256 {digest[:12]}…"] if isinstance(digest, str) else []
        return name + (f" ({', '.join(about)})" if about else "")

    @property
    def protocol_label(self) -> str:
        """'protocol nb201, C=8, N=1, 10 epochs, batch 256, mean over seeds 0, 1, 2' (training runs)."""
        settings = self.meta.get("settings") or {}
        seeds = ", ".join(map(str, self.meta.get("seeds") or []))
        caps = "".join(f", {key} {settings[key]}" for key in SMOKE_CAPS if settings.get(key) is not None)
        return (f"protocol {settings.get('protocol')}, C={settings.get('C')}, N={settings.get('N')}, "
                f"{settings.get('epochs')} epochs, batch {settings.get('batch_size')}{caps}, mean over seeds {seeds}")

    @property
    def bad(self) -> list[dict]:
        """The records the export skipped: ``[{"index": ..., "reason": ...}]``."""
        return list(self.meta.get("bad", []))

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def coverage(self) -> str:
        """'243 of 15,625 NB201 architectures (a partial store: searches see only these)', or '... (all)'."""
        held = f"{len(self):,} of {NUM_ARCHITECTURES:,} NB201 architectures"
        return held + (" (all)" if len(self) == NUM_ARCHITECTURES else " (a partial store: searches see only these)")

    @cached_property
    def sha256(self) -> str:
        """The store file's content hash: what a run records, so that a store replaced at the same path is told
        from the one a run used."""
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @cached_property
    def genotypes(self) -> tuple[Genotype, ...]:
        """The Genotype of each row."""
        return tuple(Genotype.from_index(int(index)) for index in self.indices)

    def row(self, index: int) -> int:
        """The row of NB201 index ``index``; ArchitectureNotInBenchmark when the store lacks it."""
        try:
            return self._rows[int(index)]
        except KeyError:
            raise ArchitectureNotInBenchmark(
                f"curve store {self.path} has no curves for NB201 index {index}; it holds {self.coverage}") from None

    # ---- arrays ---------------------------------------------------------------------------------------------------
    def curves(self, dataset: str, seed: int | None = None) -> DatasetCurves:
        """One dataset's arrays (each column decompressed on first use, then kept): the mean over seeds, or a seed's."""
        self._check_dataset(dataset)
        if seed is not None:
            if not self.per_seed:
                raise CurveStoreError(f"curve store {self.path} holds only the mean over seeds; export it again with "
                                      f"--per-seed for the curves of seed {seed}")
            if seed not in self.seeds:
                whose = "the training runs'" if self.from_training_runs else "NB201's 200-epoch"
                raise CurveStoreError(f"seed {seed} is not one of {whose} seeds in {self.path}: "
                                      f"{', '.join(map(str, self.seeds))}")
        key = (dataset, seed)
        if key not in self._cache:
            self._cache[key] = DatasetCurves(self, dataset, seed)
        return self._cache[key]

    def curve_set(self, dataset: str, seed: int | None = None) -> CurveSet:
        """The store's curves of ``dataset`` for the estimators' rank study; ground truth = the final test number."""
        curves = self.curves(dataset, seed)
        of = "mean over seeds" if seed is None else f"seed {seed}"
        hp = "" if self.from_training_runs else ", hp=200"
        result = CurveSet(source=f"curve store {self.path} ({self.curve_source(dataset)} curves{hp}, {of})",
                          truth=self.truth_label(dataset) if self.from_training_runs else
                          f"NB201 {nb201_label(dataset, 'test')} accuracy after 200 epochs, mean over seeds")
        for row, index in enumerate(self.indices.tolist()):
            result.records.append(ArchitectureRecord(str(index), curves.learning_curve(row), float(curves.final_test[row])))
        return result

    def _check_dataset(self, dataset: str) -> None:
        if dataset not in self.datasets:
            raise CurveStoreError(f"curve store {self.path} holds {', '.join(self.datasets)}, not {dataset}; export it "
                                  f"with --nb201-datasets {dataset}")

    def __repr__(self) -> str:
        return f"CurveStore({str(self.path)!r}, {self.coverage})"


def load_curve_store(path: str | Path) -> CurveStore:
    """Open a curve store (reads its metadata and index list; each column loads on first use)."""
    return CurveStore(path)


def write_store(handle, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a store (meta + ``indices`` + the arrays of :func:`store_keys`) as a compressed npz into ``handle``."""
    np.savez_compressed(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)


class CurvesBenchmark(NB201Benchmark):
    """NB201 look-ups (final valid and test accuracy) served from a curve store; datasets it lacks read None."""

    has_test = True

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.store = CurveStore(path)
        if self.store.from_training_runs:
            raise CurveStoreError(f"curve store {self.store.path} holds from-scratch training runs, not NB201's "
                                  f"numbers; it cannot serve as an NB201 benchmark (--benchmark): use it with "
                                  f"scripts/query_search.py --curves")
        self.source = f"curve store {self.store.path.name} ({self.store.coverage})"

    def _lookup(self, index: int, genotype: Genotype) -> BenchmarkResult:
        row = self.store.row(index)
        accuracies = {}
        for dataset in DATASETS:
            if dataset in self.store.datasets:
                curves = self.store.curves(dataset)
                accuracies[dataset] = SplitAccuracy(valid=number_or_none(curves.final_valid[row]),
                                                    test=number_or_none(curves.final_test[row]))
            else:
                accuracies[dataset] = SplitAccuracy(valid=None, test=None)
        return BenchmarkResult(index=index, genotype=genotype.to_str(), accuracies=accuracies)


# ---- reading helpers --------------------------------------------------------------------------------------------
def _open_npz(path: Path):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        detail = unpickling_refused(error) or f"{type(error).__name__}: {error}"
        raise CurveStoreError(f"cannot read curve store {path} ({detail}); {export_hint()}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CurveStoreError(f"{path} holds a single array, not a curve store (an .npz archive); {export_hint()}")
    return data


def _read_meta(data, path: Path) -> dict:
    if "meta" not in data.files:
        raise CurveStoreError(f"{path} is not a curve store (it has no 'meta' entry); {export_hint()}")
    try:
        meta = json.loads(str(data["meta"]))
    except (ValueError, TypeError) as error:
        raise CurveStoreError(f"curve store {path} has unreadable metadata ({error}); export it again") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CurveStoreError(f"curve store {path} has format {found!r}, this code reads format {FORMAT}; export it again")
    origin = meta.get("origin", NATS_ORIGIN)
    if origin not in (NATS_ORIGIN, RUNS_ORIGIN):
        raise CurveStoreError(f"curve store {path} has origin {origin!r}; expected {NATS_ORIGIN!r} or {RUNS_ORIGIN!r}")
    known = RUN_DATASETS if origin == RUNS_ORIGIN else tuple(CURVE_SOURCES)
    datasets = meta.get("datasets")
    if not isinstance(datasets, list) or not datasets or any(d not in known for d in datasets):
        raise CurveStoreError(f"curve store {path} names datasets {datasets!r}; expected some of {', '.join(known)}")
    if not isinstance(meta.get("per_seed"), bool):
        raise CurveStoreError(f"curve store {path} does not say whether it holds per-seed arrays; export it again")
    seeds = meta.get("seeds")
    if (origin == RUNS_ORIGIN or (meta["per_seed"] and seeds is not None)) and (
            not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds)):
        raise CurveStoreError(f"curve store {path} has seeds {seeds!r}, not a list of distinct integers; export it again")
    epochs = meta.get("epochs")
    if not isinstance(epochs, int) or not 1 <= epochs <= FULL_EPOCHS:
        raise CurveStoreError(f"curve store {path} has {epochs!r} epochs per curve; expected 1..{FULL_EPOCHS}")
    return meta


def _read_indices(data, path: Path) -> np.ndarray:
    indices = np.asarray(data["indices"]) if "indices" in data.files else None
    if indices is None or indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) or len(indices) == 0:
        raise CurveStoreError(f"curve store {path} has no list of NB201 indices; export it again")
    if indices.min() < 0 or indices.max() >= NUM_ARCHITECTURES or np.any(np.diff(indices) <= 0):
        raise CurveStoreError(f"curve store {path} has NB201 indices that are out of 0..{NUM_ARCHITECTURES - 1}, "
                              f"repeated or unsorted; export it again")
    return indices.astype(np.int64)
