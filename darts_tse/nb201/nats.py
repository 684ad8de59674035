"""NATS-Bench topology (tss) via ``nats_bench``: the ``NATS-tss-v1_0-3ffb9-simple`` directory (fast mode, one record
file per architecture, read on demand) or the single ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` file (loaded whole)."""
from __future__ import annotations

import pickle
from pathlib import Path

from .api_backend import ApiBenchmark
from .base import ArchitectureNotInBenchmark, BenchmarkError, check_arch_strings

RECORD_EXT = "pickle.pbz2"
META_FILE = f"meta.{RECORD_EXT}"


class NatsBenchmark(ApiBenchmark):
    """NB201 numbers from NATS-Bench's topology search space, read through ``nats_bench.create(..., 'tss')``."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.fast_mode = self.path.is_dir()
        self.source = f"NATS-Bench tss {self.path.name} (nats_bench{', fast mode' if self.fast_mode else ''})"
        try:
            import nats_bench
        except ImportError as error:
            raise BenchmarkError(f"reading {self.path.name} needs the nats_bench package: pip install nats_bench") from error
        if self.fast_mode and not (self.path / META_FILE).is_file():
            raise BenchmarkError(f"{self.path} is not a NATS-Bench directory: it has no {META_FILE}")
        try:
            api = nats_bench.create(str(self.path), "tss", fast_mode=self.fast_mode, verbose=False)
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                pickle.UnpicklingError) as error:  # also a meta file that holds the wrong kind of object
            raise BenchmarkError(f"cannot read {self.path} with nats_bench ({type(error).__name__}: {error}); fix: "
                                 f"re-extract or re-download {self.path.name}") from error
        self._init_api(api)
        check_arch_strings(api.meta_archs, f"NATS-Bench {self.path}")

    def _record_location(self, index: int) -> str:
        return str(self._record_file(index) or self.path)

    def _record_file(self, index: int) -> Path | None:
        for name in (f"{index:06d}.{RECORD_EXT}", f"{index}.{RECORD_EXT}"):  # the two names nats_bench tries
            if (self.path / name).is_file():
                return self.path / name
        return None

    def available_indexes(self) -> list[int]:
        if not self.fast_mode:
            return sorted(int(i) for i in self.api.evaluated_indexes)
        indexes = set()
        for file in self.path.glob(f"*.{RECORD_EXT}"):
            stem = file.name[: -len(RECORD_EXT) - 1]
            if stem.isdigit():
                indexes.add(int(stem))
        return sorted(indexes)

    def _prepare(self, index: int) -> None:
        if self.fast_mode and self._record_file(index) is None:
            raise ArchitectureNotInBenchmark(
                f"NATS-Bench directory {self.path} has no record for NB201 index {index} ({index:06d}.{RECORD_EXT} is "
                f"missing); use the complete NATS-tss-v1_0-3ffb9-simple directory"
            )
        if not self.fast_mode and index not in self.api.arch2infos_dict:
            raise ArchitectureNotInBenchmark(f"NATS-Bench file {self.path} has no results for NB201 index {index}")

    def _release(self, index: int) -> None:
        # fast mode keeps every record it loads; drop it so an export of all 15,625 stays small
        if self.fast_mode:
            self.api.arch2infos_dict.pop(index, None)
            self.api.evaluated_indexes.discard(index)
