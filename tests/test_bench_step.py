"""scripts/bench_step.py end to end on a tiny configuration: the JSON it writes has every key, with positive numbers."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TIME_KEYS = ("weights_only_s", "darts_s", "darts_tse_joint_s", "darts_tse_rollout_s")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_bench_step_writes_positive_timings_and_memory(tmp_path):
    out = tmp_path / "out.json"
    # the exact command line of the brief, run from another directory: the script must find the package by itself
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bench_step.py"), "--C", "4", "--N", "1", "--batch-size", "4",
         "--image-size", "8", "--repeats", "1", "--warmup", "0", "--out", "out.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())

    for key in TIME_KEYS:
        assert _positive(result[key]), key
    cases = ["weights_only", "darts", "darts_tse_joint", "darts_tse_rollout", "oneshot_random"]
    if result["config"]["xautodl"]:
        assert _positive(result["xautodl_weights_only_s"])
        cases.append("xautodl_weights_only")
    else:
        assert result["xautodl_weights_only_s"] is None
    assert set(result["peak_mem_mb"]) == set(cases)
    for case in cases:
        assert _positive(result["peak_mem_mb"][case]), case
        assert len(result["samples_s"][case]) == 1
    ratios = result["ratios"]
    assert _positive(ratios["joint_over_weights_only"]) and _positive(ratios["joint_over_darts"])
    assert ratios["weights_only_over_darts"] == pytest.approx(result["weights_only_s"] / result["darts_s"])
    config = result["config"]
    assert (config["C"], config["N"], config["batch_size"], config["image_size"]) == (4, 1, 4, 8)
    assert config["repeats"] == 1 and config["warmup"] == 0 and config["channels_last"] is True
    assert config["torch"] and config["device_name"] and _positive(config["threads"]) and config["memory_method"]
    assert "cuda" in config and "cudnn" in config and config["precision"] == "fp32" and config["compile"] is None
    assert _positive(result["oneshot_random_s"])
    # the table names every case, the three target ratios and the free-α floor
    assert "DARTS-TSE joint" in proc.stdout and "joint / weights-only" in proc.stdout and "ours / xautodl" in proc.stdout
    assert "weights-only / darts" in proc.stdout and "one-shot, 1 random path" in proc.stdout
    assert "torch " in proc.stdout.splitlines()[0] and "device=cpu" in proc.stdout.splitlines()[0]


@pytest.mark.slow
def test_bench_step_skips_memory_and_selects_cases(tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bench_step.py"), "--C", "4", "--N", "1", "--batch-size", "4",
         "--image-size", "8", "--repeats", "2", "--warmup", "0", "--device", "cpu", "--threads", "1", "--K", "3",
         "--no-channels-last", "--no-memory", "--cases", "weights_only", "darts_tse_joint", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert _positive(result["weights_only_s"]) and _positive(result["darts_tse_joint_s"])
    assert result["darts_s"] is None and result["xautodl_weights_only_s"] is None
    assert len(result["samples_s"]["darts_tse_joint"]) == 2 and result["config"]["K"] == 3
    assert result["ratios"]["joint_over_darts"] is None and result["ratios"]["weights_only_over_darts"] is None
    assert result["config"]["channels_last"] is False and result["config"]["threads"] == 1
    assert result["config"]["device"] == "cpu"


def test_profile_step_attributes_the_alpha_dots_to_the_joint_step_only():
    """The profile of a weights-only step has no α work; the joint step's skip/pool α gradients are dot products."""
    from darts_tse.perf import BenchConfig, format_profile, profile_cases

    config = BenchConfig(C=4, N=1, batch_size=4, image_size=8, warmup=0, memory=False)
    profiles = profile_cases(config, ["weights_only", "darts_tse_joint"], rounds=1)
    weights_only, joint = profiles["weights_only"], profiles["darts_tse_joint"]
    assert weights_only.ops_ms.get("aten::dot", 0.0) == 0.0
    assert joint.ops_ms["aten::dot"] > 0.0
    assert _positive(weights_only.total_ms) and _positive(joint.total_ms)
    table = format_profile(profiles, top=3)
    assert "DARTS-TSE joint minus weights only (ours)" in table
    assert len(table.splitlines()) == 1 + 2 + 1 + 2 + 3  # header, a line per case, blank, title, header, top 3
    with pytest.raises(ValueError, match="rounds"):
        profile_cases(config, ["weights_only"], rounds=0)


def test_bench_step_refuses_to_overwrite_a_json_file_unless_asked(tmp_path, capsys):
    from conftest import load_script

    existing = tmp_path / "old.json"
    existing.write_text("{}")
    assert load_script("bench_step").main(["--out", str(existing)]) == 2
    assert "exists already; choose a new name, or pass --overwrite to replace it" in capsys.readouterr().err
    assert existing.read_text() == "{}"
