"""scripts/gpu_check.sh, the one-call device check, dry-run on the CPU at tiny size (DEVICE=cpu SIZE=tiny): every
stage runs or says why not, the summary and the packed results land in OUT, and nothing on the path imports W&B,
submitit, optuna, nas-bench-201 or nats_bench (the GPU image lacks them: here they are made unimportable)."""
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BLOCKED = ("wandb", "submitit", "optuna", "nas_201_api", "nats_bench")


@pytest.mark.slow
def test_the_device_check_dry_runs_on_the_cpu_at_tiny_size(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for name in BLOCKED:
        (blocked / f"{name}.py").write_text(f"raise ImportError('{name} is not on the device path')\n")
    env = {**os.environ, "DEVICE": "cpu", "SIZE": "tiny", "THREADS": "1", "BUDGET_S": "400",
           "PYTHONPATH": f"{blocked}{os.pathsep}{ROOT}", "SHARED": str(SHARED) if SHARED.is_dir() else "/nonexistent"}
    out = tmp_path / "out"
    finished = subprocess.run(["bash", "scripts/gpu_check.sh", str(out)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = (out / "summary.txt").read_text()
    assert "FAILED" not in summary and "NOT OK" not in summary and "cut at its limit" not in summary, summary
    for stage in ("env", "searches", "audit", "eager", "fast", "paper"):
        assert f"\n{stage}: exit 0 after" in summary, (stage, summary)
    assert "tests: not run on the CPU" in summary and "compile: not run on the CPU" in summary
    for variant in ("darts-order2", "darts-tse-rollout", "drnas-kl", "oneshot-random"):
        assert f"  {variant}: ok" in summary
    assert "  exact_resume: ok resumed equals uninterrupted: True" in summary
    assert "  host_syncs_darts: skipped (needs CUDA" in summary
    with tarfile.open(out / "gpu_check.tgz") as packed:
        names = packed.getnames()
        audit = json.load(packed.extractfile("./audit.json"))
    assert "./summary.txt" in names and not any(name.endswith("checkpoint.pt") for name in names)
    assert audit["items"]["compile_aot_eager_channels_last"]["graphs"] == 1
    assert audit["items"]["bf16_dtypes"]["ok"] is True
