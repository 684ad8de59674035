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
    other = tmp_path / "sw2"
    ended_local_sweep(other)
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
    traces = read_traces(path, SUPERNET, (2,))
    assert list(traces) == [CELLS[0]] and "dropped 1 damaged row" in caplog.text
    assert path.read_text() == json.dumps(trace(CELLS[0])) + "\n"  # the next row is appended after a whole one
    assert list(read_traces(path, SUPERNET, (2,))) == [CELLS[0]]


def test_cache_rows_of_another_supernet_are_refused(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(trace(CELLS[0], supernet={**SUPERNET, "weights": "cd"})) + "\n")
    with pytest.raises(ConfigError, match="the cache came from another supernet; move") as error:
        read_traces(path, SUPERNET, (2,))
    assert "delete" not in str(error.value)
    legacy = {key: value for key, value in trace(CELLS[0]).items() if key != "supernet"}
    path.write_text(json.dumps(legacy) + "\n")
    with pytest.raises(ConfigError, match="carries no supernet identity"):
        read_traces(path, SUPERNET, (2,))


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
            "truth": {"nb201": "cifar10 test"}, "table": rank_table(rows, [1]), "subnets": rows}


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


# ---- one line: Ctrl-C, bad counts, advice -------------------------------------------------------------------------
def test_ctrl_c_of_a_command_is_one_line_with_exit_130_saying_what_is_kept(capsys, monkeypatch, oneshot_run):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rank_subnets, "rank_run", interrupted)
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
