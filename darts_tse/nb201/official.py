"""The official NAS-Bench-201 file (``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``) via ``nas_201_api``.

``nas_201_api`` calls ``torch.load(path)`` without ``weights_only``, which torch ≥ 2.6 refuses for this file. We load
the dict ourselves (``weights_only=False``: the file is a trusted pickle of plain Python objects), slim it to what we
read — the 200-epoch (``'full'``) results without network weights; the 12-epoch (``'less'``) results become empty —
and hand it to ``NASBench201API(dict)``, which deep-copies what it is given. The v1_1 file still needs many GB of RAM
for a while: export it to a table once (scripts/export_nb201_table.py) and use the table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .api_backend import ApiBenchmark
from .base import ArchitectureNotInBenchmark, BenchmarkError, check_arch_strings

REQUIRED_KEYS = ("meta_archs", "arch2infos", "evaluated_indexes")


class OfficialBenchmark(ApiBenchmark):
    """NB201 numbers from an official ``.pth`` file, read through ``nas_201_api.NASBench201API``."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.source = f"official {self.path.name} (nas_201_api)"
        try:
            from nas_201_api import ArchResults, NASBench201API
        except ImportError as error:
            raise BenchmarkError(f"reading {self.path.name} needs the nas-bench-201 package: pip install nas-bench-201") from error
        data = _load_dict(self.path)
        _slim(data, ArchResults)
        self._init_api(NASBench201API(data, verbose=False))
        del data
        check_arch_strings(self.api.meta_archs, f"benchmark file {self.path}")

    def _records(self) -> dict:
        # nas_201_api >= 2.0 keeps {index: {hp: ArchResults}} in arch2infos_dict; 1.x kept arch2infos_full
        return getattr(self.api, "arch2infos_dict", None) or getattr(self.api, "arch2infos_full", {})

    def available_indexes(self) -> list[int]:
        return sorted(int(i) for i in self._records())

    def _prepare(self, index: int) -> None:
        if index not in self._records():
            raise ArchitectureNotInBenchmark(
                f"{self.path.name} has no results for NB201 index {index}; it holds {len(self._records())} architectures"
            )


def _load_dict(path: Path) -> dict:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except MemoryError:
        raise
    except Exception as error:  # torch raises many kinds (pickle, zip, EOF) for a file that is not a benchmark
        raise BenchmarkError(f"cannot read {path} as a NAS-Bench-201 .pth file ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict) or any(key not in data for key in REQUIRED_KEYS):
        found = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise BenchmarkError(
            f"{path} is not a NAS-Bench-201 benchmark file: expected a dict with keys {', '.join(REQUIRED_KEYS)}, found {found}"
        )
    return data


def _slim(data: dict, arch_results_cls: Any) -> None:
    """In place: empty the 12-epoch records and drop network weights, so the API's deep copy stays small."""
    for index, record in data["arch2infos"].items():
        if "full" not in record:
            raise BenchmarkError(f"architecture {index} in the benchmark file has no 200-epoch ('full') results")
        less = record.get("less")
        arch_str = less.get("arch_str", "") if isinstance(less, dict) else ""
        record["less"] = arch_results_cls(int(index), arch_str).state_dict()
        for trial in record["full"].get("all_results", {}).values():
            if isinstance(trial, dict) and "net_state_dict" in trial:
                trial["net_state_dict"] = None
