"""Measuring the search's cost: per-minibatch step timings and peak memory (``step_bench``), where a step's CPU
time goes, op by op (``step_profile``), whole search epochs of every method (``search_bench``), and how far DARTS'
finite-difference Hessian-vector product is from the exact one (``hvp_compare``)."""
from .hvp_compare import HVPCompareConfig, compare_hvp, format_hvp_table
from .search_bench import METHOD_CASES, SearchBenchConfig, format_search_table, run_search_benchmark
from .step_bench import CASES, LABELS, BenchConfig, build_case, format_table, run_benchmark, warmed_units
from .step_profile import StepProfile, format_profile, profile_cases

__all__ = ["CASES", "LABELS", "METHOD_CASES", "BenchConfig", "HVPCompareConfig", "SearchBenchConfig", "StepProfile",
           "build_case", "compare_hvp", "format_hvp_table", "format_profile", "format_search_table", "format_table",
           "profile_cases", "run_benchmark", "run_search_benchmark", "warmed_units"]
