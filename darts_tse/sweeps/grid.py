"""The grid of a sweep: axes written ``NAME=V1,V2`` (NAME is a flag of the jobs' command without its dashes), their
product (one job per combination, the first axis varying slowest), and a readable, unique folder name per job."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterable


class SweepError(ValueError):
    """A sweep request that cannot be carried out (grid, folder, executor option); the message says what to change."""


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: a flag name without dashes and its values, as typed."""

    name: str
    values: tuple[str, ...]

    @property
    def varies(self) -> bool:
        return len(self.values) > 1


def parse_axes(tokens: Iterable[str]) -> list[Axis]:
    """``["method=darts,darts-tse", "seed=0,1"]`` as axes; SweepError naming a malformed, empty or repeated one."""
    axes: list[Axis] = []
    for token in tokens:
        name, sign, text = token.partition("=")
        name = name.strip().lstrip("-")
        if not sign or not name:
            raise SweepError(f"grid axis {token!r} is not NAME=V1,V2,... (e.g. seed=0,1,2; NAME is a flag of the jobs' "
                             f"command without its dashes)")
        values = tuple(value.strip() for value in text.split(","))
        if any(not value for value in values):
            raise SweepError(f"grid axis {name} has an empty value in {token!r}; write {name}=V1,V2,... without "
                             f"empty entries")
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise SweepError(f"grid axis {name} repeats {', '.join(repeated)}; give each value once")
        if any(axis.name == name for axis in axes):
            raise SweepError(f"grid axis {name} is given twice; list all its values in one {name}=V1,V2,...")
        axes.append(Axis(name, values))
    if not axes:
        raise SweepError("the grid is empty; give at least one axis, e.g. --grid method=darts,darts-tse seed=0,1,2")
    return axes


def combinations(axes: list[Axis]) -> list[dict[str, str]]:
    """Every combination of one value per axis, as {axis name: value}, the first axis varying slowest."""
    return [dict(zip((axis.name for axis in axes), values)) for values in itertools.product(*(a.values for a in axes))]


def folder_name(parts: Iterable[str]) -> str:
    """The parts joined by '-', with every character but letters, digits, '.', '+', '_' and '-' replaced by '_'."""
    return "-".join(re.sub(r"[^A-Za-z0-9.+_-]", "_", part) for part in parts if part) or "job"
