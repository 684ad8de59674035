"""Measuring the search's cost: per-minibatch step timings and peak memory (``step_bench``), where a step's CPU
time goes, op by op (``step_profile``), whole search epochs of every method (``search_bench``), and how far DARTS'
finite-difference Hessian-vector product is from the exact one (``hvp_compare``), whether the compiled supernet's
gradients equal eager ones in one graph (``compile_check``), and the Python stages of ``scripts/gpu_check.sh``
(``device_check``)."""
from .compile_check import CompileCheck, check_compiled_gradients
from .device_check import CHECK_SIZES, CHECK_STAGES, CheckSetup, run_check_stage
from .hvp_compare import HVPCompareConfig, compare_hvp, format_hvp_table
from .search_bench import METHOD_CASES, SearchBenchConfig, format_search_table, run_search_benchmark
from .step_bench import CASES, LABELS, BenchConfig, build_case, format_table, run_benchmark, warmed_units
from .step_profile import StepProfile, format_profile, profile_cases

__all__ = ["CASES", "CHECK_SIZES", "CHECK_STAGES", "LABELS", "METHOD_CASES", "BenchConfig", "CheckSetup", "CompileCheck",
           "HVPCompareConfig", "SearchBenchConfig", "StepProfile", "build_case", "check_compiled_gradients",
           "compare_hvp", "format_hvp_table", "format_profile", "format_search_table", "format_table", "profile_cases",
           "run_benchmark", "run_check_stage", "run_search_benchmark", "warmed_units"]
