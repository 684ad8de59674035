"""The machine a run segment ran on: what decides whether a resumed run continues bit for bit.

A resumed run repeats exactly what an uninterrupted one computes when every kernel-relevant setting is the same:
the torch version, the device (type and name; on CPU the model and the vector kernels torch dispatches to, e.g.
AVX2 vs AVX512), the CPU thread count (float32 reductions split across threads sum in another order), channels-last,
a compiled forward (fused kernels round differently), and on CUDA the CUDA/cuDNN versions, ``cudnn.benchmark``, TF32
and deterministic algorithms. The batches, the RNG streams and every state are restored exactly regardless; with other kernels the
continuation differs by float round-off (single ReLU inputs near 0 flip, ~1e-4 on α after a few epochs).
"""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch

# the keys whose change breaks bit-exact resume (the others are recorded for the reader)
EXACTNESS_KEYS = ("torch", "device_type", "device_name", "cpu_capability", "threads", "channels_last", "cuda", "cudnn",
                  "cudnn_benchmark", "cudnn_allow_tf32", "matmul_allow_tf32", "float32_matmul_precision",
                  "deterministic_algorithms", "cudnn_deterministic", "compile")


def run_environment(device: torch.device, *, channels_last: bool, compile: str | None = None) -> dict:
    """The versions, device and kernel settings this process computes with (after ``--threads`` was applied)."""
    cuda = device.type == "cuda"
    return {
        "torch": str(torch.__version__), "python": platform.python_version(), "numpy": str(np.__version__),
        "device_type": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the vector kernels torch picked (AVX2, AVX512)
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "channels_last": channels_last,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if cuda else None,
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32) if cuda else None,
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32) if cuda else None,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic) if cuda else None,
        "compile": compile,  # the torch.compile mode of the supernet's mixed forward (None: eager)
    }


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def exactness_differences(before: dict, now: dict) -> list[str]:
    """'threads 2 -> 1' for each kernel-relevant setting that differs between two segments' environments."""
    return [f"{key} {before.get(key)!r} -> {now.get(key)!r}" for key in EXACTNESS_KEYS
            if key in before and before.get(key) != now.get(key)]
