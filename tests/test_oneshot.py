"""One-shot NAS: the discrete path equals the one-hot supernet, the samplers' properties, scripts/train_oneshot.py's
records and exact resume, and scripts/rank_subnets.py's ranking study (the TSE paper's Table 2 protocol)."""
import csv
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from darts_tse.cli import rank_subnets, train_oneshot
from darts_tse.config import ConfigError, OneShotConfig
from darts_tse.estimators import kendall_tau, spearman
from darts_tse.mixing import SoftmaxMixing
from darts_tse.ranking import FinetuneSettings, SubnetFinetuner, sample_subnets
from darts_tse.samplers import FairSampler, MultiPathSampler, RandomSampler, build_sampler, list_samplers
from darts_tse.search import build_components, run_search
from darts_tse.search.checkpoint import load_checkpoint
from darts_tse.space import Genotype, NB201SearchNetwork
from darts_tse.space.cell import CellPath
from darts_tse.training import WeightTrainer

from conftest import REPO_ROOT, kill_in_second_epoch

TINY = dict(dataset="synthetic", synthetic_samples=96, synthetic_image_size=8, batch_size=16, C=4, N=1, epochs=2,
            threads=1, wandb="disabled", progress=False, device="cpu", probes=4)


def tiny(out, **overrides) -> OneShotConfig:
    return OneShotConfig(**{**TINY, "out": str(out), **overrides})


def cli_args(config: OneShotConfig) -> list[str]:
    return ["--sampler", config.sampler, "--paths", str(config.paths), "--probes", str(config.probes),
            "--dataset", config.dataset, "--synthetic-samples", str(config.synthetic_samples),
            "--synthetic-image-size", str(config.synthetic_image_size), "--batch-size", str(config.batch_size),
            "--C", str(config.C), "--N", str(config.N), "--epochs", str(config.epochs), "--threads",
            str(config.threads), "--wandb", "disabled", "--device", "cpu", "--no-progress", "--out", config.out]


def double_model(channels_last=False, **kwargs) -> NB201SearchNetwork:
    torch.manual_seed(3)
    return NB201SearchNetwork(3, 1, 5, mixing=SoftmaxMixing(), channels_last=channels_last, **kwargs).double()


# ---- the discrete path ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels_last", [False, True])
def test_a_path_equals_the_supernet_with_one_hot_mixing_forward_and_every_gradient(channels_last):
    model = double_model(channels_last)
    x, y = torch.randn(6, 3, 8, 8, dtype=torch.double), torch.randint(0, 5, (6,))
    rng = random.Random(0)
    paths = [(0,) * 6, (0, 0, 0, 1, 0, 0), (1,) * 6, (3, 0, 2, 0, 0, 4)]  # all none, one skip, all skip, dead node 2
    paths += [tuple(rng.randrange(5) for _ in range(6)) for _ in range(10)]
    weights = model.weight_parameters()
    for path in paths:
        mix = F.one_hot(torch.tensor(path), 5).double()
        fused = F.cross_entropy(model(x, mix), y)
        fused_grads = torch.autograd.grad(fused, weights, allow_unused=True)
        single = F.cross_entropy(model(x, path=path), y)
        single_grads = torch.autograd.grad(single, weights, allow_unused=True)
        assert torch.allclose(fused, single, atol=1e-12, rtol=0), path
        for a, b in zip(fused_grads, single_grads):
            a, b = (torch.zeros_like(w) if g is None else g for g, w in ((a, b if b is not None else a), (b, a)))
            assert torch.allclose(a, b, atol=1e-12, rtol=0), path


def test_a_path_computes_only_the_ops_it_needs():
    plan = CellPath.of(Genotype.parse("|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|").op_indices)
    assert [len(terms) for terms in plan.terms] == [0, 1, 1]  # node 1 is dead, its skip edge to node 2 is not run
    useless = CellPath.of(Genotype.parse("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").op_indices)
    assert [len(terms) for terms in useless.terms] == [0, 0, 1]  # node 1 reaches no output: not computed
    with pytest.raises(ValueError, match="one op index"):
        CellPath.of((0, 1, 2))


def test_one_path_step_equals_a_one_hot_supernet_step_with_momentum_and_weight_decay():
    x, y = torch.randn(8, 3, 8, 8, dtype=torch.double), torch.randint(0, 5, (8,))
    path = (3, 1, 2, 0, 4, 2)
    discrete, fused = double_model(), double_model()
    def make(m):
        return WeightTrainer(m, torch.optim.SGD(m.weight_parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                                           weight_decay=5e-3), grad_clip=0.5)
    a, b = make(discrete), make(fused)
    mix = F.one_hot(torch.tensor(path), 5).double()
    fused.mixing_weights = lambda: mix  # the fused supernet's forward with one-hot mixing weights
    for _ in range(3):
        a.step_paths(x, y, [path])
        b.step(x, y)
    for p, q in zip(discrete.weight_parameters(), fused.weight_parameters()):
        assert torch.allclose(p, q, atol=1e-12, rtol=0)


def test_multipath_step_averages_the_paths_gradients():
    x, y = torch.randn(8, 3, 8, 8, dtype=torch.double), torch.randint(0, 5, (8,))
    paths = [(3, 1, 2, 0, 4, 2), (2, 2, 2, 2, 2, 2), (1, 3, 0, 3, 1, 4)]
    model = double_model()
    before = [w.detach().clone() for w in model.weight_parameters()]
    grads = [torch.autograd.grad(F.cross_entropy(model(x, path=p), y), model.weight_parameters(), allow_unused=True)
             for p in paths]
    mean = [sum(torch.zeros_like(w) if g[i] is None else g[i] for g in grads) / len(paths)
            for i, w in enumerate(before)]
    trainer = WeightTrainer(model, torch.optim.SGD(model.weight_parameters(), lr=1.0), grad_clip=None)
    stats = trainer.step_paths(x, y, paths)
    for w, w0, g in zip(model.weight_parameters(), before, mean):
        assert torch.allclose(w, w0 - g, atol=1e-12, rtol=0)
    with torch.no_grad():
        losses = [F.cross_entropy(double_model()(x, path=p), y).item() for p in paths]
    assert float(stats.loss) == pytest.approx(sum(losses) / len(losses), rel=1e-12)


# ---- samplers -----------------------------------------------------------------------------------------------------
def _trainer():
    model = NB201SearchNetwork(4, 1, 10, mixing=SoftmaxMixing())
    return WeightTrainer(model, torch.optim.SGD(model.weight_parameters(), lr=0.1))


def test_fair_sampler_trains_every_op_of_every_edge_exactly_once_per_minibatch():
    sampler = FairSampler(_trainer(), seed=7)
    seen_orders = set()
    for _ in range(50):
        paths = sampler.paths()
        assert len(paths) == 5
        for edge in range(6):
            assert sorted(path[edge] for path in paths) == [0, 1, 2, 3, 4]
        seen_orders.add(tuple(path[0] for path in paths))
    assert len(seen_orders) > 10  # the permutations are random, not one fixed order


def test_samplers_are_seeded_and_resume_from_their_state():
    assert list_samplers() == ["fair", "multipath", "random"]
    for name in list_samplers():
        a, b = build_sampler(name, _trainer(), seed=3, paths=4), build_sampler(name, _trainer(), seed=3, paths=4)
        first = [a.paths() for _ in range(5)]
        assert first == [b.paths() for _ in range(5)]
        state = a.state_dict()
        after = [a.paths() for _ in range(5)]
        c = build_sampler(name, _trainer(), seed=99, paths=4)
        c.load_state_dict(state)
        assert [c.paths() for _ in range(5)] == after
    assert len(MultiPathSampler(_trainer(), seed=0, paths=4).paths()) == 4
    assert len(RandomSampler(_trainer(), seed=0).paths()) == 1
    with pytest.raises(ValueError, match="unknown path sampler 'spos'; choose one of: fair, multipath, random"):
        build_sampler("spos", _trainer(), seed=0)


def test_oneshot_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown --sampler 'spos'"):
        OneShotConfig(sampler="spos").validate()
    with pytest.raises(ConfigError, match="--paths must be an integer in 1..100"):
        OneShotConfig(sampler="multipath", paths=0).validate()
    with pytest.raises(ConfigError, match="only 15625 cells"):
        OneShotConfig(probes=20000).validate()
    assert "paths" in OneShotConfig(sampler="fair").unused_settings()


# ---- training a one-shot supernet --------------------------------------------------------------------------------
def test_oneshot_run_records_its_paths_and_probes_with_nb201_numbers(tmp_path, nb201_table):
    config = tiny(tmp_path / "run", sampler="fair", benchmark=str(nb201_table))
    rows = run_search(config, echo=lambda line: None)
    assert [row["epoch"] for row in rows] == [0, 1]
    steps = 3  # 48 images of search-train in batches of 16
    assert all(row["steps"] == steps and row["paths"] == 5 * steps for row in rows)
    table = {}
    with open(nb201_table, newline="") as handle:
        for line in csv.DictReader(handle):
            table[line["arch"]] = float(line["cifar10_test"])
    probes = rows[-1]["probes"]
    assert len(probes) == 4 and len({p["genotype"] for p in probes}) == 4
    assert rows[-1]["valid_acc"] == pytest.approx(sum(p["valid_acc"] for p in probes) / 4)
    for probe in probes:
        assert probe["nb201"]["cifar10"]["test"] == table[probe["genotype"]]
        assert probe["nb201_index"] == Genotype.parse(probe["genotype"]).index
    rank = rows[-1]["probe_rank"]
    rho = spearman([p["valid_acc"] for p in probes], [table[p["genotype"]] for p in probes])
    assert rank["nb201"] == "cifar10 test" and rank["probes"] == 4
    assert rank["spearman"] == (None if np.isnan(rho) else pytest.approx(rho))
    assert [p["genotype"] for p in rows[0]["probes"]] == [p["genotype"] for p in probes]  # a fixed probe set
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [".lock", "checkpoint.pt", "config.json",
                                                                         "metrics.jsonl"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["kind"] == "oneshot"


def test_train_oneshot_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert train_oneshot.main([*cli_args(tiny(tmp_path / "r")), "--paths", "0", "--sampler", "multipath"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--paths must be an integer in 1..100" in err[0]
    run_search(tiny(tmp_path / "search-like", epochs=1), echo=lambda line: None)
    from train_search import main as search_main  # a one-shot run is resumed by the command that started it

    assert search_main(["--resume", "--out", str(tmp_path / "search-like")]) == 2
    assert "holds a oneshot run, not a search run" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "fair"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_oneshot_run(tmp_path, sampler):
    config = tiny(tmp_path / "run", sampler=sampler, epochs=3, synthetic_samples=256)
    reference = tiny(tmp_path / "reference", sampler=sampler, epochs=3, synthetic_samples=256)
    run_search(reference, echo=lambda line: None)
    kill_in_second_epoch([sys.executable, "scripts/train_oneshot.py", *cli_args(config)], config.out, timeout=120)
    result = subprocess.run([sys.executable, "scripts/train_oneshot.py", "--resume", "--out", config.out],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ours = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    theirs = load_checkpoint(tmp_path / "reference" / "checkpoint.pt")["model"]
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)  # bit for bit
    def strip(path):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                              for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "run") == strip(tmp_path / "reference")


# ---- ranking subnetworks ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oneshot_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("oneshot") / "run"
    run_search(tiny(out, sampler="random"), echo=lambda line: None)
    return out


def _finetuner(run, budgets, valid_batches=2):
    state = load_checkpoint(run / "checkpoint.pt")
    config = OneShotConfig.from_dict(state["config"])
    parts = build_components(config, torch.device("cpu"))
    parts.model.load_state_dict(state["model"])
    settings = FinetuneSettings(budgets=budgets, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                                grad_clip=5.0, batch_size=16, seed=0, valid_batches=valid_batches)
    return SubnetFinetuner(parts.model, parts.data, settings, torch.device("cpu")), parts.model


def test_budgets_are_checkpoints_of_one_run_and_the_supernet_is_left_as_it_was(oneshot_run):
    genotype = Genotype.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")
    both, model = _finetuner(oneshot_run, (2, 5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace = both.run(genotype)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())  # the subnetwork trained a copy
    for budget in (2, 5):
        alone = _finetuner(oneshot_run, (budget,))[0].run(genotype)
        assert alone.train_losses == trace.train_losses[:budget]
        assert alone.valid_minibatch_losses == trace.valid_minibatch_losses[:budget]
        assert alone.valid[budget] == trace.valid[budget]
    assert len(trace.train_losses) == 5 and set(trace.valid) == {2, 5}
    assert both.run(genotype).train_losses == trace.train_losses  # every subnetwork starts from the same state


def test_kendall_tau_is_tau_b():
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant of 6
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(2 * 3))  # a tie in x: tau-b
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    assert kendall_tau(x, y) == pytest.approx(scipy_stats.kendalltau(x, y).statistic, abs=1e-12)


def test_rank_subnets_table_json_csv_and_plot(oneshot_run, nb201_table, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = {name: tmp_path / f"r.{ext}" for name, ext in (("json", "json"), ("csv", "csv"), ("plot", "png"))}
    argv = [str(oneshot_run), "--subnets", "8", "--B", "2", "3", "--valid-batches", "1", "--benchmark",
            str(nb201_table), "--no-progress", "--out", str(out["json"]), "--csv", str(out["csv"]), "--plot",
            str(out["plot"])]
    assert rank_subnets.main(argv) == 0
    report = capsys.readouterr().out
    assert "truth: NB201 cifar10 test accuracy" in report and "ρ B=2" in report and "top-8 B=3" in report
    assert "supernet C=4 N=1, 2 epochs of 48 search-train images, batch 16" in report
    document = json.loads(out["json"].read_text())
    run = document["runs"][0]
    assert len(run["subnets"]) == 8 and run["budgets"] == [2, 3]
    assert [row["genotype"] for row in run["subnets"]] == [g.to_str() for g in sample_subnets(8, 0)]
    truths = [row["truth"] for row in run["subnets"]]
    tse = [-row["estimates"]["3"]["TSE"] for row in run["subnets"]]
    assert run["table"]["TSE"]["3"]["spearman"] == pytest.approx(spearman(tse, truths))
    assert run["table"]["TSE"]["3"]["kendall"] == pytest.approx(kendall_tau(tse, truths))
    best = sorted(range(8), key=lambda i: -tse[i])[:10]
    assert run["table"]["TSE"]["3"]["top10"] == pytest.approx(sum(truths[i] for i in best) / len(best))
    for row in run["subnets"]:  # TSE is the sum of the B training losses; TLmini the last of them
        trace = next(t for t in map(json.loads, open(next((oneshot_run / "subnet_rankings").iterdir()) / "traces.jsonl"))
                     if t["genotype"] == row["genotype"])
        assert row["estimates"]["2"]["TSE"] == pytest.approx(sum(trace["train_losses"][:2]))
        assert row["estimates"]["3"]["TLmini"] == trace["train_losses"][2]
    lines = list(csv.reader(out["csv"].open()))
    assert lines[0][:4] == ["run", "genotype", "nb201_index", "nb201_cifar10_test"] and len(lines) == 9
    assert out["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run of the same study trains nothing again: every trace is kept in the run directory
    assert rank_subnets.main(argv) == 0 and "8 of 8 subnetworks already trained" in capsys.readouterr().out
    assert json.loads(out["json"].read_text())["runs"][0]["table"] == run["table"]


def test_a_stopped_ranking_continues_where_it_was(oneshot_run, nb201_table, tmp_path, capsys):
    argv = [str(oneshot_run), "--subnets", "4", "--B", "2", "--seed", "5", "--valid-batches", "1", "--benchmark",
            str(nb201_table), "--no-progress"]
    assert rank_subnets.main(argv) == 0
    cache = next(p for p in (oneshot_run / "subnet_rankings").iterdir() if "seed5" in p.name)
    lines = (cache / "traces.jsonl").read_text().splitlines()
    (cache / "traces.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # killed while writing the 3rd
    first = capsys.readouterr().out
    assert rank_subnets.main(argv) == 0
    again = capsys.readouterr().out
    assert "2 of 4 subnetworks already trained" in again
    assert again.split("\n", 1)[1] == first.split("\n", 1)[1] or again.endswith(first.split("\n\n", 1)[1])
    assert len((cache / "traces.jsonl").read_text().splitlines()) == 4


def test_the_truth_comes_from_the_benchmark_given_now_never_from_the_cache(oneshot_run, nb201_table, capsys):
    argv = [str(oneshot_run), "--subnets", "3", "--B", "1", "--seed", "11", "--valid-batches", "1", "--no-progress"]
    assert rank_subnets.main(argv) == 0  # the offline default: valid accuracies only
    assert "truth: NB201 cifar10-valid valid" in capsys.readouterr().out
    assert rank_subnets.main([*argv, "--benchmark", str(nb201_table), "--out", str(oneshot_run / "t.json")]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 subnetworks already trained" in out and "truth: NB201 cifar10 test" in out
    rows = json.loads((oneshot_run / "t.json").read_text())["runs"][0]["subnets"]
    assert all(row["truth"] is not None for row in rows)


def test_a_subnetwork_that_diverges_ranks_last_and_the_study_goes_on(oneshot_run, nb201_table, capsys):
    argv = [str(oneshot_run), "--subnets", "4", "--B", "3", "--lr", "1e6", "--seed", "5", "--valid-batches", "1",
            "--benchmark", str(nb201_table), "--no-progress", "--out", str(oneshot_run / "d.json")]
    assert rank_subnets.main(argv) == 0
    assert "diverged subnetworks (a non-finite loss by B; ranked last)" in capsys.readouterr().out
    table = json.loads((oneshot_run / "d.json").read_text())["runs"][0]["table"]
    assert table["TSE"]["3"]["diverged"] >= 1


def test_rank_subnets_bad_input_is_one_line(oneshot_run, tmp_path, capsys):
    assert rank_subnets.main([str(tmp_path / "nowhere"), "--subnets", "2", "--B", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: no checkpoint at")
    (tmp_path / "cells.txt").write_text("|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|\n")
    assert rank_subnets.main([str(oneshot_run), "--subnets", str(tmp_path / "cells.txt"), "--B", "1"]) == 2
    assert "unknown op 'bogus'" in capsys.readouterr().err
    assert rank_subnets.main([str(oneshot_run), "--plot", str(tmp_path), "--B", "1"]) == 2
    assert "is a folder" in capsys.readouterr().err
    for argv, fragment in ((["--subnets", "0"], "give 1..15625 subnetworks"),
                           (["--subnets", "20000"], "give 1..15625 subnetworks"),
                           (["--threads", "0"], "--threads must lie in 1.."),
                           ([str(oneshot_run)], "given twice")):
        with pytest.raises(SystemExit):
            rank_subnets.main([str(oneshot_run), *argv, "--B", "1"])
        assert fragment in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("# nothing\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe")
    for name, fragment in (("empty.txt", "lists no NB201 string"), ("binary.txt", "not a UTF-8 text file")):
        with pytest.raises(SystemExit):
            rank_subnets.main([str(oneshot_run), "--B", "1", "--subnets", str(tmp_path / name)])
        assert fragment in capsys.readouterr().err


def test_readers_of_searches_say_what_to_do_with_a_oneshot_run(oneshot_run, capsys):
    from darts_tse.cli import compare_runs, export_genotype, plot_alpha

    for main in (compare_runs.main, export_genotype.main):
        assert main([str(oneshot_run)]) == 2
        assert "is a one-shot supernet run" in capsys.readouterr().err
    assert plot_alpha.main([str(oneshot_run), "-o", str(oneshot_run / "a.png")]) == 2
    assert "rank its subnetworks with python scripts/rank_subnets.py" in capsys.readouterr().err


def test_a_one_shot_run_refuses_compile_which_it_would_not_use():
    """One-shot paths run the discrete forward (eager); --compile compiles only the mixed one, so it is refused."""
    from darts_tse.config import ConfigError, OneShotConfig

    with pytest.raises(ConfigError, match="drop --compile"):
        OneShotConfig(dataset="synthetic", compile="default").validate()
