"""Measuring the search's cost: per-minibatch step timings and peak memory (``step_bench``), and where a step's CPU
time goes, op by op (``step_profile``)."""
from .step_bench import CASES, LABELS, BenchConfig, build_case, format_table, run_benchmark, warmed_units
from .step_profile import StepProfile, format_profile, profile_cases

__all__ = ["CASES", "LABELS", "BenchConfig", "StepProfile", "build_case", "format_profile", "format_table",
           "profile_cases", "run_benchmark", "warmed_units"]
