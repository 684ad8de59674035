"""Issue 21: nothing named only by a run directory, a sweep folder or a file the project wrote is unpickled or run
(each route plants a payload whose unpickling writes a marker file, and the test asserts the marker is absent); no
progress is lost (the rank trace cache); no silent wrong result (foreign trace rows, mixed kinds, moved sweeps, a
running job); every bad input and Ctrl-C is one line."""
import json
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import submitit

from darts_tse.cli import rank_subnets
from darts_tse.cli import sweep as sweep_cli
from darts_tse.cli.errors import cli_main
from darts_tse.config import ConfigError, OneShotConfig, SearchConfig
from darts_tse.files import run_lock
from darts_tse.ranking import combine, rank_table
from darts_tse.ranking.estimates import ESTIMATORS
from darts_tse.ranking.study import read_traces
from darts_tse.search import run_search
from darts_tse.spaces import get_space
from darts_tse.search.checkpoint import load_checkpoint, save_checkpoint
from darts_tse.sweeps import Job, Sweep, load_sweep, sweep_status
from darts_tse.trust import UntrustedInputError, check_recorded_sources, pickle_benchmark

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
import train_search  # noqa: E402


class Payload:
    """Unpickling it writes `marker`: the proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (Path(self.marker), "the payload ran")


def plant(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


TINY = dict(dataset="synthetic", synthetic_samples=32, synthetic_image_size=8, batch_size=8, C=4, N=1, epochs=1,
            threads=1, wandb="disabled", progress=False, device="cpu")


@pytest.fixture(scope="module")
def search_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "search"
    run_search(SearchConfig(method="darts-tse", K=2, out=str(out), **TINY), echo=lambda line: None)
    return out


@pytest.fixture(scope="module")
def oneshot_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "oneshot"
    run_search(OneShotConfig(sampler="random", probes=2, out=str(out), **{**TINY, "synthetic_samples": 64}),
               echo=lambda line: None)
    return out


def hand_over(run: Path, to: Path, **recorded) -> Path:
    """A copy of `run` whose checkpoint records `recorded` settings (what someone handing over a run could do)."""
    shutil.copytree(run, to)
    state = load_checkpoint(to / "checkpoint.pt")
    state["config"].update(recorded)
    save_checkpoint(to / "checkpoint.pt", state)
    return to


# ---- trust: run directories ----------------------------------------------------------------------------------------
def test_the_rule_knows_which_benchmarks_and_datasets_are_pickles():
    assert pickle_benchmark("x/NAS-Bench-201-v1_0-e61699.pth") and pickle_benchmark("x/NATS-tss-v1_0-3ffb9-simple")
    assert not pickle_benchmark("t.csv") and not pickle_benchmark("c.NPZ") and not pickle_benchmark(None)
    check_recorded_sources({"dataset": "cifar10", "data_dir": None}, set(), trusted=False, where="w")  # the default
    check_recorded_sources({"dataset": "folder", "data_dir": "/x"}, set(), trusted=False, where="w")  # images, no pickle
    with pytest.raises(UntrustedInputError, match="--data-dir /x"):
        check_recorded_sources({"dataset": "imagenet16-120", "data_dir": "/x"}, set(), trusted=False, where="w")
    check_recorded_sources({"dataset": "imagenet16-120", "data_dir": "/x"}, {"data_dir"}, trusted=False, where="w")
    check_recorded_sources({"benchmark": "b.pth"}, set(), trusted=True, where="w")


@pytest.mark.parametrize("route", ["pth", "nats", "imagenet16"])
def test_a_resumed_run_never_unpickles_a_path_only_its_checkpoint_names(search_run, tmp_path, capsys, route):
    marker = tmp_path / "marker"
    run = tmp_path / "handed"
    if route == "pth":
        run = hand_over(search_run, run, benchmark=str(run / "nb201.pth"), epochs=2)
        plant(run / "nb201.pth", marker)
        flag = "--benchmark"
    elif route == "nats":
        run = hand_over(search_run, run, benchmark=str(run / "nats"), epochs=2)
        plant(run / "nats" / "meta.pickle.pbz2", marker)
        flag = "--benchmark"
    else:
        run = hand_over(search_run, run, dataset="imagenet16-120", data_dir=str(run), epochs=2)
        for number in range(1, 11):
            plant(run / f"train_data_batch_{number}", marker)
        flag = "--data-dir"
    assert train_search.main(["--resume", "--out", str(run)]) == 2
    [line] = err_lines(capsys)
    assert line.startswith("error: ") and f"name it yourself: {flag} " in line and "--trust-run-files" in line
    assert not marker.exists()


def test_a_resumed_one_shot_run_never_unpickles_a_path_only_its_checkpoint_names(oneshot_run, tmp_path, capsys):
    from darts_tse.cli import train_oneshot

    marker = tmp_path / "marker"
    run = hand_over(oneshot_run, tmp_path / "handed", benchmark=str(tmp_path / "handed" / "nb201.pth"))
    plant(run / "nb201.pth", marker)
    assert train_oneshot.main(["--resume", "--out", str(run)]) == 2
    [line] = err_lines(capsys)
    assert "name it yourself: --benchmark" in line and not marker.exists()


def test_rank_subnets_never_unpickles_the_benchmark_a_run_names(oneshot_run, tmp_path, capsys):
    marker = tmp_path / "marker"
    run = hand_over(oneshot_run, tmp_path / "handed", benchmark=str(tmp_path / "handed" / "nb201.pth"))
    plant(run / "nb201.pth", marker)
    assert rank_subnets.main([str(run), "--subnets", "2", "--B", "1", "--no-progress"]) == 2
    [line] = err_lines(capsys)
    assert "name it yourself: --benchmark" in line and not marker.exists()
    assert not (run / "subnet_rankings").exists()  # refused before anything was trained or written


def test_trust_run_files_is_what_lets_a_recorded_pickle_be_read(oneshot_run, tmp_path, capsys):
    marker = tmp_path / "marker"
    run = hand_over(oneshot_run, tmp_path / "handed", benchmark=str(tmp_path / "handed" / "nb201.pth"))
    plant(run / "nb201.pth", marker)
    assert rank_subnets.main([str(run), "--subnets", "2", "--B", "1", "--no-progress", "--trust-run-files"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert marker.exists()  # the user vouched for the file: it was read (and this one ran its payload)


# ---- trust: sweep folders ------------------------------------------------------------------------------------------
def ended_local_sweep(folder: Path, *, setup=None) -> Sweep:
    """A sweep of one job whose local submission ended on this machine without finishing its run."""
    job = Job("seed0", {"seed": "0"}, ["--dataset", "synthetic", "--epochs", "1", "--out", "/gone/sw/seed0"])
    job.add_submission("4242", "local", start="0")
    sweep = Sweep(folder, {"seed": ["0"]}, [], [job], {"executor": "local", "setup": setup} if setup else {})
    folder.mkdir(parents=True)
    sweep.save()
    return sweep


def test_sweep_status_reads_job_outcomes_without_unpickling_submitits_results(tmp_path, capsys):
    marker = tmp_path / "marker"
    folder = tmp_path / "sw"
    sweep = ended_local_sweep(folder)
    result = submitit.LocalJob(sweep.submitit_folder, "4242").paths.result_pickle
    plant(result, marker)
    assert sweep_cli.main(["--status", str(folder)]) == 0
    assert "failed" in capsys.readouterr().out and not marker.exists()
    result.with_name("4242_0_outcome.json").write_text(json.dumps({"outcome": "error", "message": "error: boom"}))
    [status] = sweep_status(load_sweep(folder))
    assert status.state == "failed" and status.detail == "error: boom" and not marker.exists()


def test_recorded_setup_lines_and_job_flags_need_the_users_confirmation(tmp_path, capsys):
    marker = tmp_path / "marker"
    folder = tmp_path / "sw"
    ended_local_sweep(folder, setup=[f"touch {marker}"])
    assert sweep_cli.main(["--resubmit-failed", str(folder)]) == 2
    [line] = err_lines(capsys)
    assert f"setup: touch {marker}" in line and "--trust-run-files" in line
    grid = ["--grid", "seed=0", "--out", str(folder), "--dataset", "synthetic", "--epochs", "1"]
    assert sweep_cli.main(grid) == 2  # a re-run of the sweep command: the recorded setup line is not given again
    assert f"setup: touch {marker}" in err_lines(capsys)[0]
    other = tmp_path / "sw2"
    sweep = ended_local_sweep(other)
    plant(submitit.LocalJob(sweep.submitit_folder, "4242").paths.result_pickle, marker)  # read on the way: no
    assert sweep_cli.main(["--resubmit-failed", str(other)]) == 2
    [line] = err_lines(capsys)
    assert "job commands" in line and "train_search.py --dataset synthetic" in line
    assert f"--out {other.absolute() / 'seed0'}" in line  # shown where it would run now, not the recorded path
    assert not marker.exists() and len(load_sweep(other).jobs[0].submissions) == 1


def test_a_moved_sweep_runs_its_jobs_in_the_folder_where_it_is_now(tmp_path):
    sweep = ended_local_sweep(tmp_path / "moved")
    [job] = sweep.jobs
    assert sweep.job_argv(job)[-2:] == ["--out", str((tmp_path / "moved" / "seed0").absolute())]
    assert "/gone/sw/seed0" not in sweep.job_argv(job)
    replanned = Sweep(sweep.folder, sweep.grid, [], [Job("seed0", {"seed": "0"}, [*job.argv[:-1], "/here/seed0"])])
    assert sweep.differences(replanned) == []  # a re-run after the move is the same sweep


def test_a_job_whose_search_still_holds_its_run_lock_is_running_never_failed(tmp_path):
    sweep = ended_local_sweep(tmp_path / "sw")
    [job] = sweep.jobs
    run = sweep.run_dir(job)
    run.mkdir()
    assert sweep_status(sweep)[0].state == "failed"
    with run_lock(run):  # its controller was signalled away, its search runs on
        assert sweep_status(sweep)[0].state == "running"


# ---- progress: the rank trace cache -----------------------------------------------------------------------------
SUPERNET = {"run_id": "r-1", "epoch": 0, "weights": "ab"}


def trace(genotype: str, budget: int = 2, supernet=SUPERNET) -> dict:
    return {"genotype": genotype, "train_losses": [1.0] * budget, "valid_minibatch_losses": [2.0] * budget,
            "valid": {str(budget): {"valid_loss": 1.5, "valid_acc": 10.0}}, "supernet": supernet}


CELLS = ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


@pytest.mark.parametrize("damage", [b"null", b"{}", b'{"genotype": "x"}', b"\xff\xfe not utf-8",
                                    json.dumps({**trace(CELLS[1]), "valid": {}}).encode(),  # a budget missing
                                    json.dumps(trace(CELLS[1], budget=1)).encode()[:-1] + b"}",  # shorter than B
                                    json.dumps(trace(CELLS[1]))[:30].encode()])  # torn
def test_a_damaged_cache_row_is_dropped_and_rewritten_never_refused(tmp_path, caplog, damage):
    path = tmp_path / "traces.jsonl"
    path.write_bytes(json.dumps(trace(CELLS[0])).encode() + b"\n" + damage + b"\n")  # even ending in a newline
    traces = read_traces(path, SUPERNET, (2,), get_space("nb201"))
    assert list(traces) == [CELLS[0]] and "dropped 1 damaged row" in caplog.text
    assert path.read_text() == json.dumps(trace(CELLS[0])) + "\n"  # the next row is appended after a whole one
    assert list(read_traces(path, SUPERNET, (2,), get_space("nb201"))) == [CELLS[0]]


def test_cache_rows_of_another_supernet_are_refused(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(trace(CELLS[0], supernet={**SUPERNET, "weights": "cd"})) + "\n")
    with pytest.raises(ConfigError, match="the cache came from another supernet; move") as error:
        read_traces(path, SUPERNET, (2,), get_space("nb201"))
    assert "delete" not in str(error.value)
    legacy = {key: value for key, value in trace(CELLS[0]).items() if key != "supernet"}
    path.write_text(json.dumps(legacy) + "\n")
    with pytest.raises(ConfigError, match="carries no supernet identity"):
        read_traces(path, SUPERNET, (2,), get_space("nb201"))


def test_a_trace_cache_of_another_supernet_is_refused_by_rank_subnets(oneshot_run, tmp_path, capsys):
    argv = ["--subnets", "2", "--B", "1", "--valid-batches", "1", "--no-progress"]
    run = tmp_path / "a"
    shutil.copytree(oneshot_run, run)
    assert rank_subnets.main([str(run), *argv]) == 0
    [cache] = (run / "subnet_rankings").iterdir()
    rows = [json.loads(line) for line in (cache / "traces.jsonl").read_text().splitlines()]
    assert all(row["supernet"]["run_id"] == load_checkpoint(run / "checkpoint.pt")["run_id"] for row in rows)
    rows[1]["supernet"]["weights"] = "0" * 16  # a row another supernet's study wrote
    (cache / "traces.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    capsys.readouterr()
    assert rank_subnets.main([str(run), *argv]) == 2
    [line] = err_lines(capsys)
    assert "came from another supernet" in line and "delete" not in line


# ---- silent wrong results: ranking --------------------------------------------------------------------------------
def result(run: str, kind: str, method: str, seed: int, space=None) -> dict:
    rows = [{"truth": float(i), "estimates": {"1": {name: float(i) for name in ESTIMATORS}}} for i in range(4)]
    return {"run": run, "kind": kind, "method": method, "space": space, "seed": seed, "budgets": [1],
            "dataset": "synthetic", "scale": {},
            "truth": {"nb201": "cifar10 test", "label": "cifar10 test", "title": "NB201 cifar10 test accuracy",
                      "column": "nb201_cifar10_test", "meaning": "m"},
            "table": rank_table(rows, [1]), "subnets": rows}


def test_ranking_averages_only_over_seeds_of_one_setting_and_refuses_mixed_kinds():
    with pytest.raises(ConfigError, match="mix kinds"):
        combine([result("a", "oneshot", "random", 0), result("b", "search", "darts-tse-K2", 1)])
    document = combine([result("a", "oneshot", "random", 0), result("b", "oneshot", "fair", 0),
                        result("c", "oneshot", "random", 1)])
    assert [(g["setting"], g["runs"]) for g in document["groups"]] == [("random", ["a", "c"]), ("fair", ["b"])]
    assert document["mean_over_runs"] is None
    assert document["groups"][0]["mean_over_runs"]["TSE"]["1"]["spearman"]["n"] == 2
    spaces = combine([result("a", "oneshot", "random", 0, "nb201"), result("b", "oneshot", "random", 1, "darts")])
    assert len(spaces["groups"]) == 2
    from darts_tse.ranking import format_report

    report = format_report(document)  # one table per setting, each over its own runs
    assert report.startswith("setting random:\n") and "\n\nsetting fair:\n" in report
    assert "mean ± sample std over the 2 runs" in report.split("setting fair:")[0]


# ---- one line: Ctrl-C, bad counts, advice -------------------------------------------------------------------------
def test_ctrl_c_of_a_command_is_one_line_with_exit_130_saying_what_is_kept(capsys, monkeypatch, oneshot_run):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("darts_tse.ranking.rank_run", interrupted)  # rank_subnets imports it after parsing
    assert rank_subnets.main([str(oneshot_run), "--B", "1"]) == 130
    [line] = err_lines(capsys)
    assert line.startswith("interrupted: every subnetwork trained so far is kept")
    assert cli_main(lambda argv: interrupted())([]) == 130
    assert err_lines(capsys) == ["interrupted: nothing was written (this command writes its output only when it ends)"]


def test_a_count_in_other_digits_is_one_line(oneshot_run, capsys):
    with pytest.raises(SystemExit):
        rank_subnets.main([str(oneshot_run), "--subnets", "²", "--B", "1"])
    [line] = err_lines(capsys)
    assert line.startswith("error: --subnets ²")


def test_a_missing_checkpoint_never_gets_advice_that_deletes_results(search_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(search_run, run)
    (run / "checkpoint.pt").unlink()
    assert train_search.main(["--resume", "--out", str(run)]) == 2
    [line] = err_lines(capsys)
    assert "1 epoch(s) of that run finished" in line and "restore it" in line and "--overwrite" not in line
    assert rank_subnets.main([str(run), "--B", "1"]) == 2
    [line] = err_lines(capsys)
    assert "restore it" in line and "--overwrite" not in line
    (run / "checkpoint.pt").write_bytes(bytes(range(256)) * 4)  # random bytes: damaged, not code
    assert rank_subnets.main([str(run), "--B", "1"]) == 2
    [line] = err_lines(capsys)
    assert "damaged or not a darts_tse checkpoint" in line and "could run code" not in line


def test_sweep_refuses_missing_data_and_benchmark_paths_before_submitting(tmp_path, capsys):
    base = ["--grid", "seed=0", "--out", str(tmp_path / "sw"), "--dataset", "folder", "--epochs", "1"]
    assert sweep_cli.main([*base, "--data-dir", str(tmp_path / "nowhere")]) == 2
    [line] = err_lines(capsys)
    assert f"--data-dir {tmp_path / 'nowhere'} does not exist" in line
    (tmp_path / "imgs").mkdir()
    assert sweep_cli.main([*base, "--data-dir", str(tmp_path / "imgs"), "--benchmark", str(tmp_path / "b.csv")]) == 2
    assert "--benchmark" in capsys.readouterr().err and not (tmp_path / "sw").exists()


def test_a_job_ending_outside_submitit_writes_no_outcome(tmp_path):
    from darts_tse.sweeps import write_outcome

    write_outcome("success")  # not in a submitit job: nothing is written, nothing fails
    assert not list(tmp_path.iterdir())


# ---- query runs and curve stores (a small store written here, no NATS-Bench needed) -------------------------------
def small_store(path: Path, *, epoch_time: float = 10.0, count: int = 20, seed: int = 0) -> Path:
    import numpy as np

    from darts_tse.files import atomic_write
    from darts_tse.nb201.curves import ARCH_COLUMNS, FORMAT, column_key, write_store

    rng = np.random.default_rng(seed)
    epochs = 12
    arrays = {"indices": np.arange(count, dtype=np.int64) * 7}
    loss = np.sort(rng.uniform(0.5, 2.0, (count, epochs)), axis=1)[:, ::-1].astype(np.float32)
    columns = {"train_loss": loss, "valid_loss": loss + 0.1, "valid_acc": (100 - 30 * loss).astype(np.float32),
               "valtest_acc": (100 - 30 * loss).astype(np.float32),
               "epoch_time": np.full((count, epochs), epoch_time, np.float32)}
    for name, array in columns.items():
        arrays[column_key("cifar10", name)] = array
    finals = {"total_time": np.full(count, epoch_time * 200), "final_valid": rng.uniform(80, 90, count),
              "final_test": rng.uniform(80, 94, count)}
    for name in ARCH_COLUMNS:
        arrays[column_key("cifar10", name)] = finals[name].astype(np.float64)
    meta = {"format": FORMAT, "datasets": ["cifar10"], "per_seed": False, "epochs": epochs, "source": "test",
            "bad": []}
    atomic_write(path, lambda handle: write_store(handle, meta, arrays))
    return path


def test_a_store_whose_clock_stands_still_or_runs_backwards_is_one_line(tmp_path, capsys):
    from darts_tse.cli import query_search

    for time in (0.0, -5.0):
        store = small_store(tmp_path / f"c{time}.npz", epoch_time=time)
        argv = ["--curves", str(store), "--algorithm", "re", "--wallclock", "1000", "--out", str(tmp_path / "q")]
        assert query_search.main(argv) == 2
        [line] = err_lines(capsys)
        assert "not a positive number of seconds" in line and not (tmp_path / "q").exists()


def test_a_store_replaced_at_the_same_path_is_not_finished_earlier(tmp_path, capsys):
    from darts_tse.cli import query_search

    store = small_store(tmp_path / "c.npz")
    argv = ["--curves", str(store), "--algorithm", "re", "--max-queries", "3", "--out", str(tmp_path / "q"),
            "--fitness", "val-acc", "--no-progress"]
    assert query_search.main(argv) == 0
    assert query_search.main(argv) == 0 and "finished earlier" in capsys.readouterr().out
    small_store(store, seed=1)  # another store at the same path
    assert query_search.main(argv) == 2
    [line] = err_lines(capsys)
    assert "holds a finished run on another curve store" in line


def test_a_failed_query_run_leaves_no_directory_and_ctrl_c_says_what_is_kept(tmp_path, capsys, monkeypatch):
    from darts_tse.cli import query_search
    from darts_tse.query import runner

    store = small_store(tmp_path / "c.npz")
    argv = ["--curves", str(store), "--algorithm", "re", "--max-queries", "3", "--out", str(tmp_path / "q"),
            "--fitness", "val-acc", "--no-progress", "--runs", "2"]
    calls, real_observe = [], runner.RegularizedEvolution.observe

    def observe_then_stop(self, genotype, fitness):
        calls.append(genotype)
        if len(calls) == 5:  # in the second run
            raise KeyboardInterrupt
        return real_observe(self, genotype, fitness)

    monkeypatch.setattr(runner.RegularizedEvolution, "observe", observe_then_stop)
    assert query_search.main(argv) == 130
    [line] = err_lines(capsys)
    assert line.startswith("interrupted: the finished runs in") and "removed" in line and "delete" not in line
    [kept] = (tmp_path / "q").iterdir()  # the first run; the second left nothing
    assert (kept / "summary.json").is_file()
    monkeypatch.undo()
    assert query_search.main(argv) == 0 and len(list((tmp_path / "q").iterdir())) == 2


def test_plot_query_refuses_a_run_given_twice(tmp_path, capsys):
    from darts_tse.cli import plot_query

    with pytest.raises(SystemExit):
        plot_query.main([str(tmp_path), str(tmp_path / "."), "-o", str(tmp_path / "f.png")])
    assert "given twice" in capsys.readouterr().err


# ---- curve export: progress is never lost ----------------------------------------------------------------------
class FakeNats:
    """Stands for a NATS-Bench directory: the export's record reader is replaced too (no nats_bench needed)."""

    def __init__(self, path):
        self.path = Path(path)
        self.source = f"fake {self.path.name}"

    def available_indexes(self):
        return list(range(6))


def fake_record(bench, index, datasets, epochs, per_seed):
    import numpy as np

    from darts_tse.nb201.curves import ARCH_COLUMNS, EPOCH_COLUMNS, column_key

    record = {"indices": np.int64(index)}
    for dataset in datasets:
        for name in EPOCH_COLUMNS:
            record[column_key(dataset, name)] = np.full(epochs, 1.0 + index)
        for name in ARCH_COLUMNS:
            record[column_key(dataset, name)] = np.float64(50.0 + index)
    return record, ""


@pytest.fixture
def fake_export(monkeypatch, tmp_path):
    from darts_tse.nb201 import curves_export

    monkeypatch.setattr(curves_export, "NatsBenchmark", FakeNats)
    monkeypatch.setattr(curves_export, "read_record", fake_record)
    (tmp_path / "nats").mkdir()
    return lambda **kw: curves_export.export_curves(tmp_path / "nats", tmp_path / "c.npz", datasets=["cifar10"],
                                                    epochs=3, shard_size=2, progress=False, **kw)


def test_an_export_with_a_duplicate_shard_keeps_every_shard_and_names_them(fake_export, tmp_path, monkeypatch):
    from darts_tse.nb201 import CurveStoreError, curves_export

    real = curves_export.read_record

    def stop_at_5(bench, index, *args):
        if index == 5:
            raise KeyboardInterrupt
        return real(bench, index, *args)

    monkeypatch.setattr(curves_export, "read_record", stop_at_5)
    with pytest.raises(KeyboardInterrupt):
        fake_export()
    parts = tmp_path / "c.npz.parts"
    shutil.copy(parts / "shard-00000.npz", parts / "shard-00009.npz")  # the same architectures twice
    monkeypatch.setattr(curves_export, "read_record", real)
    kept = sorted(p.name for p in parts.iterdir())
    with pytest.raises(CurveStoreError, match="shard-00000.npz and shard-00009.npz .* both hold NB201 index 0"):
        fake_export()
    assert sorted(p.name for p in parts.iterdir()) == kept and not (tmp_path / "c.npz").exists()
    (parts / "shard-00009.npz").unlink()
    report = fake_export()
    assert report.exported == 6 and not parts.exists()


def test_an_export_whose_merged_store_is_invalid_keeps_its_shards(fake_export, tmp_path, monkeypatch):
    import numpy as np

    from darts_tse.nb201 import CurveStoreError, curves_export

    def zero_time(*args):
        record, reason = fake_record(*args)
        record["cifar10.total_time"] = np.float64(0.0)  # passes the shard writer, not the store's check
        return record, reason

    monkeypatch.setattr(curves_export, "read_record", zero_time)
    with pytest.raises(CurveStoreError, match="its shards are kept there"):
        fake_export()
    parts = tmp_path / "c.npz.parts"
    assert len(list(parts.glob("shard-*.npz"))) == 3 and not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize("damage, fragment", [("shard", "BadZipFile"), ("settings", "a JSON list")])
def test_a_damaged_shard_or_settings_file_is_one_line_that_deletes_nothing(fake_export, tmp_path, monkeypatch,
                                                                          damage, fragment):
    from darts_tse.nb201 import CurveStoreError, curves_export

    real = curves_export.read_record
    monkeypatch.setattr(curves_export, "read_record",
                        lambda bench, index, *a: (_ for _ in ()).throw(KeyboardInterrupt) if index == 3 else
                        real(bench, index, *a))
    with pytest.raises(KeyboardInterrupt):
        fake_export()
    parts = tmp_path / "c.npz.parts"
    if damage == "shard":
        shard = parts / "shard-00000.npz"
        shard.write_bytes(shard.read_bytes()[:60])  # truncated
    else:
        (parts / "settings.json").write_text("[1, 2]")
    monkeypatch.setattr(curves_export, "read_record", real)
    with pytest.raises(CurveStoreError, match=fragment) as error:
        fake_export()
    assert "delete" not in str(error.value) and "remove" not in str(error.value)
    assert (parts / "shard-00000.npz").exists()


# ---- one line for bad data and absurd sizes -----------------------------------------------------------------------
def test_bad_npz_files_are_one_line_without_numpys_advice_to_unpickle(tmp_path):
    import numpy as np

    from darts_tse.data import load_search_data
    from darts_tse.data.base import DataError

    np.save(tmp_path / "single.npy", np.zeros((4, 3, 8, 8), np.uint8))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")  # a .npy named .npz
    with pytest.raises(DataError, match="holds a single array, not a .npz archive"):
        load_search_data("npz", tmp_path / "single.npz")
    np.savez(tmp_path / "objects.npz", x_train=np.array([object()] * 4, dtype=object), y_train=np.arange(4))
    with pytest.raises(DataError, match="pickled Python objects, which are never unpickled") as error:
        load_search_data("npz", tmp_path / "objects.npz")
    assert "unsafely" not in str(error.value) and "allow_pickle=" not in str(error.value)
    labels = np.array([0, 1, 0, 2**64 - 1], dtype=np.uint64)  # would wrap to -1 as int64
    np.savez(tmp_path / "wrap.npz", x_train=np.zeros((4, 8, 8, 3), np.uint8), y_train=labels)
    with pytest.raises(DataError, match="has the label 18446744073709551615, not a class number"):
        load_search_data("npz", tmp_path / "wrap.npz")


def test_image_folder_problems_name_the_fix_and_never_advise_removing_data(tmp_path, monkeypatch):
    from PIL import Image

    from darts_tse.data import load_search_data
    from darts_tse.data.base import DataError

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # 8 x 8 = 64 > 2 x 16: Pillow's decompression-bomb error
    with pytest.raises(DataError, match="decompression bomb") as error:
        load_search_data("folder", tmp_path, image_size=8)
    assert "remove" not in str(error.value)
    monkeypatch.undo()
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "b" and real_access(path, mode))
    with pytest.raises(DataError, match="cannot read the class folder\\(s\\) b .*permission denied") as error:
        load_search_data("folder", tmp_path, image_size=8)
    assert "empty" not in str(error.value) and "remove" not in str(error.value)


@pytest.mark.parametrize("overrides, fragment", [
    (dict(dataset="folder", data_dir="x", image_size=100_000), "--image-size must be an integer in 4..1,024"),
    (dict(synthetic_samples=2_000_000_000), "--synthetic-samples must be an integer in 1..1,000,000"),
])
def test_sizes_that_would_exhaust_memory_are_bounded(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SearchConfig(**{**TINY, **overrides}).validate()


def test_paths_of_multipath_are_bounded_and_bench_search_train_images_too(capsys):
    from darts_tse.cli import bench_search

    with pytest.raises(ConfigError, match="--paths must be an integer in 1..100"):
        OneShotConfig(sampler="multipath", paths=1_000_000, **TINY).validate()
    for argv, fragment in ((["--train-images", "1000000000"], "--train-images must lie in 1..500,000"),
                           (["--image-size", "100000"], "--image-size must be a multiple of 4 in 4..1024")):
        with pytest.raises(SystemExit):
            bench_search.main([*argv, "--C", "4", "--N", "1"])
        [line] = err_lines(capsys)
        assert fragment in line


def test_a_settings_file_that_is_a_json_list_is_one_line(tmp_path, capsys):
    from darts_tse.cli import compare_methods

    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "compare_methods.json").write_text("[1, 2]")
    assert compare_methods.main(["--out", str(tmp_path / "cmp"), "--methods", "darts", "--seeds", "0"]) == 2
    [line] = err_lines(capsys)
    assert "is not a comparison's settings (a JSON list" in line


def test_a_resume_checks_its_pickle_data_files_hashes_before_unpickling_them(tmp_path, capsys):
    import numpy as np

    from darts_tse.data import load_search_data

    folder = tmp_path / "ImageNet16"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for number in range(1, 11):
        labels = [1 + (number * 13 + k) % 120 for k in range(24)]
        batch = {"data": rng.integers(0, 256, (24, 768), dtype=np.uint8), "labels": labels}
        (folder / f"train_data_batch_{number}").write_bytes(pickle.dumps(batch))
    data = load_search_data("imagenet16-120", tmp_path)
    assert sorted(data.record()["files_sha256"]) == sorted(f"train_data_batch_{n}" for n in range(1, 11))
    out = tmp_path / "run"
    config = SearchConfig(method="darts-tse", K=2, out=str(out), **{**TINY, "dataset": "imagenet16-120",
                                                                     "data_dir": str(tmp_path), "C": 4})
    try:
        run_search(config, echo=lambda line: None)
    except Exception as error:  # noqa: BLE001 - a 16 px run needs its halves to hold every class
        pytest.skip(f"tiny ImageNet16 run not possible here: {error}")
    marker = tmp_path / "marker"
    plant(folder / "train_data_batch_3", marker)  # the data changed since (a payload in its place)
    argv = ["--resume", "--out", str(out), "--data-dir", str(tmp_path)]
    assert train_search.main(argv) == 2
    [line] = err_lines(capsys)
    assert "train_data_batch_3 differ" in line and "were not unpickled" in line and not marker.exists()


@pytest.mark.slow
def test_ctrl_c_of_a_local_sweep_is_one_line_without_the_controllers_traceback(tmp_path):
    import os
    import signal
    import subprocess
    import time

    folder = tmp_path / "sw"
    command = [sys.executable, str(REPO_ROOT / "scripts" / "sweep.py"), "--grid", "seed=0", "--out", str(folder),
               "--executor", "local", "--dataset", "synthetic", "--synthetic-samples", "64",
               "--synthetic-image-size", "8", "--batch-size", "8", "--C", "4", "--N", "1", "--epochs", "40",
               "--threads", "1", "--wandb", "disabled", "--no-progress", "--K", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    deadline = time.monotonic() + 120
    metrics = folder / "seed0" / "metrics.jsonl"
    while not (metrics.is_file() and metrics.stat().st_size) and time.monotonic() < deadline:  # an epoch finished
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C reaches the whole process group
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130
    assert "interrupted: the running jobs were stopped and keep the checkpoints" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert (folder / "seed0" / "checkpoint.pt").is_file()


def test_a_local_job_keeps_its_slot_while_its_search_still_runs(tmp_path, monkeypatch):
    from darts_tse.sweeps import LocalOptions, LocalPool

    class Job:  # a job whose controller ended at once (signalled away)
        job_id, _process = "1", None

        def done(self):
            return True

    class Executor:
        def submit(self, function):
            return Job()

    pool = LocalPool(tmp_path, LocalOptions(), poll_s=0.01)
    monkeypatch.setattr(pool, "_executor", lambda slot: Executor())
    polls, ended = [], []
    pool.run([("a", None), ("b", None)], lambda *args: None, lambda key, job: ended.append((key, len(polls))),
             busy=lambda key: polls.append(key) or (key == "a" and len(polls) < 5))
    assert ended[0] == ("a", 5)  # "a" ended only once its search no longer ran; "b" waited for its slot
    assert [key for key, _ in ended] == ["a", "b"]


def test_a_system_error_names_the_file_and_what_to_check_not_errno_text(tmp_path, capsys):
    def main(argv):
        open(tmp_path / "missing" / "x.txt")

    assert cli_main(main)([]) == 2
    [line] = err_lines(capsys)
    assert line == (f"error: cannot use {tmp_path / 'missing' / 'x.txt'}: No such file or directory (ENOENT); check "
                    f"that path and its permissions")


@pytest.mark.parametrize("meta", [[1, 2], {"meta_archs": 3}, "text"])
def test_a_nats_meta_file_of_the_wrong_kind_is_one_line(tmp_path, meta):
    import bz2

    pytest.importorskip("nats_bench")
    from darts_tse.nb201 import BenchmarkError, load_benchmark

    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    (folder / "meta.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps(meta)))
    with pytest.raises(BenchmarkError, match="cannot read .*fix: re-extract or re-download"):
        load_benchmark(folder)


def test_only_pickle_format_benchmarks_count_as_code():
    """A table, a curve store and the NB301 surrogate are data; an official .pth or a NATS-Bench folder is a pickle."""
    assert not any(pickle_benchmark(path) for path in ("t.csv", "curves.npz", "nb301/model_v2.onnx", None))
    assert all(pickle_benchmark(path) for path in ("NAS-Bench-201-v1_1-096897.pth", "NATS-tss-v1_0-3ffb9-simple",
                                                   "meta.pickle.pbz2"))
