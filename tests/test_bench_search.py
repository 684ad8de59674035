"""scripts/bench_search.py: whole search epochs of every method through the search's own loop, on a tiny size."""
import json

import pytest

from darts_tse.perf import METHOD_CASES, SearchBenchConfig, format_search_table, run_search_benchmark

from conftest import load_script

TINY = dict(C=2, N=1, batch_size=4, image_size=8, train_images=12, steps_per_epoch=2, probes=2, K=2)


def test_every_method_is_built_as_its_search_builds_it():
    assert METHOD_CASES == ("darts", "darts-tse", "drnas", "drnas-tse", "oneshot-random", "oneshot-fair",
                            "oneshot-multipath")
    bench = SearchBenchConfig(**TINY, warmup_epochs=1, epochs=2, precision="bf16", data_on_device=True)
    darts = bench.run_config("darts")
    assert (darts.kind, darts.method, darts.epochs, darts.synthetic_samples, darts.precision) == \
        ("search", "darts", 3, 24, "bf16")
    fair = bench.run_config("oneshot-fair")
    assert (fair.kind, fair.sampler, fair.probes, fair.data_on_device) == ("oneshot", "fair", 2, True)


@pytest.mark.slow
def test_bench_search_times_every_method_and_writes_json_once(tmp_path, capsys):
    out = tmp_path / "bench.json"
    script = load_script("bench_search")
    argv = ["--C", "2", "--N", "1", "--batch-size", "4", "--image-size", "8", "--train-images", "12",
            "--steps-per-epoch", "2", "--probes", "2", "--K", "2", "--device", "cpu", "--out", str(out)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "device=cpu" in printed and "torch " in printed and "projected 50-epoch search (min)" in printed
    result = json.loads(out.read_text())
    assert list(result["methods"]) == list(METHOD_CASES)
    for method, row in result["methods"].items():
        assert row["steps"] == 2 and row["ms_per_minibatch"] > 0 and len(row["train_seconds"]) == 1, method
        assert row["eval_batches"] == 2 and row["eval_median_seconds"] > 0 and row["peak_mem_mb"] is None
        assert (row["epoch_minibatches"], row["epoch_eval_batches"]) == (3, 3)  # 12 images in batches of 4
        assert row["projected_search_minutes"] == pytest.approx(  # whole epochs at the measured (2-batch) rates
            50 * (row["train_seconds"][0] * 3 / 2 + row["eval_seconds"][0] * 3 / 2) / 60)
    config = result["config"]
    assert (config["device"], config["C"], config["train_images"], config["precision"]) == ("cpu", 2, 12, "fp32")
    assert config["torch"] and config["device_name"] and config["threads"] >= 1
    assert script.main(argv) == 2
    assert "exists already; choose a new name, or pass --overwrite" in capsys.readouterr().err


def test_bench_search_small_run_and_one_line_errors(tmp_path, capsys):
    result = run_search_benchmark(SearchBenchConfig(**TINY, methods=("darts-tse",), warmup_epochs=0))
    assert result["methods"]["darts-tse"]["steps"] == 2
    assert "darts-tse" in format_search_table(result)
    script = load_script("bench_search")
    assert script.main(["--C", "0", "--methods", "darts"]) == 2
    assert capsys.readouterr().err.startswith("error: --C must be an integer >= 1")
    assert script.main(["--device", "tpu", "--methods", "darts"]) == 2
    assert "--device 'tpu' is not supported" in capsys.readouterr().err
