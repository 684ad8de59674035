"""Shared reading logic for the official-API backends (nas_201_api and nats_bench expose the same ``get_more_info``).

Every number comes from ``get_more_info(index, api_dataset, iepoch=None, hp='200', is_random=False)`` (the last of
200 epochs, averaged over the seeds), read by its numeric key:

==============  ===============================================  ==============================================
dataset         valid                                            test
==============  ===============================================  ==============================================
cifar10         ``cifar10-valid`` → ``valid-accuracy`` (x-valid)  ``cifar10`` → ``test-accuracy`` (ori-test)
cifar100        ``cifar100`` → ``valid-accuracy`` (x-valid)       ``cifar100`` → ``test-accuracy`` (x-test)
imagenet16-120  ``ImageNet16-120`` → ``valid-accuracy`` (x-valid) ``ImageNet16-120`` → ``test-accuracy`` (x-test)
==============  ===============================================  ==============================================

Not used: ``cifar10-valid``'s ``test-accuracy`` (ori-test of the net trained on the 25k train half only) and
``valtest-accuracy`` (ori-test = x-valid ∪ x-test for CIFAR-100 / ImageNet16-120).
"""
from __future__ import annotations

import inspect
import pickle
from abc import abstractmethod
from typing import Any

from darts_tse.space.genotype import Genotype

from .base import (
    DATASETS,
    ArchitectureNotInBenchmark,
    BenchmarkError,
    BenchmarkResult,
    NB201Benchmark,
    RecordUnreadable,
    SplitAccuracy,
    number_or_none,
)

# our dataset -> ((api dataset, key) for valid, (api dataset, key) for test)
API_SOURCES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "cifar10": (("cifar10-valid", "valid-accuracy"), ("cifar10", "test-accuracy")),
    "cifar100": (("cifar100", "valid-accuracy"), ("cifar100", "test-accuracy")),
    "imagenet16-120": (("ImageNet16-120", "valid-accuracy"), ("ImageNet16-120", "test-accuracy")),
}
FULL_HP = "200"

ValidSeeds = dict[str, "list[float] | None"]


def more_info_options(api: Any) -> dict[str, Any]:
    """Keyword arguments selecting the 200-epoch results: ``hp='200'`` (API ≥ v2.0 / NATS) or
    ``use_12epochs_result=False`` (nas_201_api v1.x)."""
    parameters = inspect.signature(api.get_more_info).parameters
    if "hp" in parameters:
        return {"hp": FULL_HP}
    if "use_12epochs_result" in parameters:
        return {"use_12epochs_result": False}
    raise BenchmarkError(f"unsupported {type(api).__name__}.get_more_info signature {list(parameters)}; install nas-bench-201>=2.0 or nats_bench")


class ApiBenchmark(NB201Benchmark):
    """A backend reading through an official API object (``self.api``)."""

    has_test = True
    api: Any

    def _init_api(self, api: Any) -> None:
        self.api = api
        self._options = more_info_options(api)

    @abstractmethod
    def available_indexes(self) -> list[int]:
        """NB201 indexes this source holds results for, ascending."""

    def _prepare(self, index: int) -> None:
        """Raise BenchmarkError if the architecture is absent (before the API fails in its own way)."""

    def _release(self, index: int) -> None:
        """Drop the API's copy of a record once read (our cache keeps the numbers)."""

    def _record_location(self, index: int) -> str:
        """Where the API reads the record of `index` from (named in errors)."""
        return str(getattr(self, "path", self.source))

    def _lookup(self, index: int, genotype: Genotype) -> BenchmarkResult:
        return self.read(index)[0]

    def read(self, index: int) -> tuple[BenchmarkResult, ValidSeeds]:
        """The result of ``index`` and its per-seed valid accuracies (None where unavailable); uncached."""
        self._prepare(index)
        try:
            infos: dict[str, dict | None] = {}
            for (valid_ds, _), (test_ds, _) in API_SOURCES.values():
                for api_dataset in (valid_ds, test_ds):
                    if api_dataset not in infos:
                        infos[api_dataset] = self._more_info(index, api_dataset, False)
            accuracies = {}
            seeds: ValidSeeds = {}
            for dataset in DATASETS:
                (valid_ds, valid_key), (test_ds, test_key) = API_SOURCES[dataset]
                accuracies[dataset] = SplitAccuracy(
                    valid=_get(infos[valid_ds], valid_key), test=_get(infos[test_ds], test_key)
                )
                seeds[dataset] = self._valid_seeds(index, valid_ds, valid_key)
        finally:
            self._release(index)
        genotype = Genotype.from_index(index).to_str()
        return BenchmarkResult(index=index, genotype=genotype, accuracies=accuracies), seeds

    def _more_info(self, index: int, api_dataset: str, is_random: bool | int) -> dict | None:
        """``get_more_info`` for one dataset; None if the record lacks that dataset."""
        try:
            return self.api.get_more_info(index, api_dataset, iepoch=None, is_random=is_random, **self._options)
        except KeyError:  # the ArchResults has no trial on this dataset (dataset_seed lookup)
            return None
        except ValueError as error:  # "Did not find {index} from arch2infos_dict"
            raise ArchitectureNotInBenchmark(f"{self.source} has no results for NB201 index {index}: {error}") from error
        except (pickle.UnpicklingError, OSError, EOFError) as error:  # a record loaded lazily (NATS fast mode) is corrupt
            raise RecordUnreadable(
                f"cannot read the record of NB201 index {index} from {self._record_location(index)} "
                f"({type(error).__name__}: {error}); fix: re-extract or re-download that file"
            ) from error

    def _valid_seeds(self, index: int, api_dataset: str, key: str) -> list[float] | None:
        records = getattr(self.api, "arch2infos_dict", {}).get(index)
        if not records or FULL_HP not in records:
            return None
        try:
            seeds = records[FULL_HP].get_dataset_seeds(api_dataset)
        except KeyError:
            return None
        values = [_get(self._more_info(index, api_dataset, int(seed)), key) for seed in seeds]
        return None if any(v is None for v in values) else values


def _get(info: dict | None, key: str) -> float | None:
    return None if info is None else number_or_none(info.get(key))
