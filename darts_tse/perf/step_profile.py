"""Where a search step's CPU time goes: per-op self time of each case, and its difference from a base case.

Built on the benchmark's cases (:func:`darts_tse.perf.step_bench.build_case`), so it profiles exactly what
``scripts/bench_step.py`` times. The cases are profiled round-robin, ``rounds`` units each after ``warmup`` untimed
ones; an op's time is the median over rounds of its ``torch.profiler`` self CPU time per minibatch. Minor page faults
per minibatch (``getrusage``) are counted on an unprofiled unit before each profiled one: they show the cost of a
larger working set, which the per-op times hide inside whichever op touched new memory first.
"""
from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile

from .step_bench import LABELS, BenchConfig, warmed_units


@dataclass
class StepProfile:
    """One case: median self CPU milliseconds per minibatch of every op, and minor page faults per minibatch."""

    ops_ms: dict[str, float]
    minor_faults: float

    @property
    def total_ms(self) -> float:
        return sum(self.ops_ms.values())


def _profile_unit(unit) -> tuple[dict[str, float], float]:
    """Per-op self milliseconds per minibatch of one profiled unit, and the minor page faults per minibatch of an
    unprofiled unit run just before it (the profiler's own event buffers would add faults)."""
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    minibatches = unit()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) / minibatches
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        minibatches = unit()
    ops = {event.key: event.self_cpu_time_total / 1000 / minibatches for event in prof.key_averages()}
    return ops, faults


def profile_cases(config: BenchConfig, cases: list[str], rounds: int = 3) -> dict[str, StepProfile]:
    """Profile every case's unit `rounds` times, round-robin, on the CPU."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    units = warmed_units(config, cases, torch.device("cpu"))
    samples: dict[str, list[tuple[dict[str, float], float]]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case, unit in units.items():
            samples[case].append(_profile_unit(unit))
    profiles = {}
    for case, runs in samples.items():
        names = set().union(*(ops for ops, _ in runs))
        ops_ms = {name: statistics.median(ops.get(name, 0.0) for ops, _ in runs) for name in names}
        profiles[case] = StepProfile(ops_ms, statistics.median(faults for _, faults in runs))
    return profiles


def format_profile(profiles: dict[str, StepProfile], top: int = 15) -> str:
    """Per case: total and page faults; then the ops whose time differs most from the first case's."""
    base_case, *others = profiles
    base = profiles[base_case]
    lines = [f"{'case':<26}{'ms / minibatch (op self time)':>30}{'minor faults / minibatch':>26}"]
    for case, prof in profiles.items():
        lines.append(f"{LABELS[case]:<26}{prof.total_ms:>30.1f}{prof.minor_faults:>26.0f}")
    for case in others:
        prof = profiles[case]
        lines += ["", f"{LABELS[case]} minus {LABELS[base_case]}, ms / minibatch (largest differences first):",
                  f"{'op':<60}{'base':>10}{'case':>10}{'diff':>10}"]
        names = set(base.ops_ms) | set(prof.ops_ms)
        rows = sorted(names, key=lambda n: abs(prof.ops_ms.get(n, 0.0) - base.ops_ms.get(n, 0.0)), reverse=True)
        for name in rows[:top]:
            b, c = base.ops_ms.get(name, 0.0), prof.ops_ms.get(name, 0.0)
            lines.append(f"{name[:59]:<60}{b:>10.2f}{c:>10.2f}{c - b:>+10.2f}")
    return "\n".join(lines)
