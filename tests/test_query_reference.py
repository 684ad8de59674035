"""The TSE code's query-search protocol, one switch each (query/config.py, query/fitness.py, query/optuna_search.py):
its EMA, the T + 1 epoch charge, the seed fallback, the paper's wall-clock, and the recorded / pinned TPE settings."""
import bz2
import json
import pickle

import numpy as np
import optuna
import pytest

from darts_tse.cli import query_search
from darts_tse.estimators import tse_ema, tse_ema_code
from darts_tse.nb201 import load_curve_store
from darts_tse.query import QueryConfig, QueryError
from darts_tse.query.config import PAPER_WALLCLOCK
from darts_tse.query.runner import prepare_search

from test_query import real_c10_store, seed_gap_store  # noqa: F401  (module fixtures shared with test_query)


def test_the_code_ema_is_the_recursion_and_ranks_as_gamma_0_1():
    losses = [2.0, 1.5, 1.2, 1.1]
    ema = losses[0]
    for loss in losses[1:]:
        ema = 0.1 * ema + 0.9 * loss
    assert tse_ema_code(losses) == pytest.approx(ema)
    # 0.9 · Σ 0.1^(T−t) L_t, but for L_1's weight
    assert tse_ema_code(losses) == pytest.approx(0.9 * tse_ema(losses, 0.1) + 0.1**4 * losses[0])
    rng = np.random.default_rng(0)
    curves = rng.uniform(0.5, 2.0, size=(50, 10))
    ours = np.argsort([tse_ema(c, 0.1) for c in curves])
    assert (ours == np.argsort([tse_ema_code(c) for c in curves])).mean() > 0.9


def test_the_extra_epoch_charges_t_plus_1_epochs_and_reads_val_acc_there(real_c10_store):  # noqa: F811
    plain = prepare_search(QueryConfig(curves=str(real_c10_store), max_queries=1, fitness="val-acc", budget_epochs=10))
    extra = prepare_search(QueryConfig(curves=str(real_c10_store), max_queries=1, fitness="val-acc", budget_epochs=10,
                                       extra_epoch=True))
    curves = load_curve_store(real_c10_store).curves("cifar10")
    assert np.allclose(plain.evaluation.costs, curves.epoch_time[:, :10].sum(1))
    assert np.allclose(extra.evaluation.costs, curves.epoch_time[:, :11].sum(1))
    assert np.allclose(extra.evaluation.values, curves.column("valid_acc")[:, 10])
    ema = prepare_search(QueryConfig(curves=str(real_c10_store), max_queries=1, budget_epochs=10, ema="reference",
                                     extra_epoch=True))
    assert np.allclose(ema.evaluation.values, [-tse_ema_code(c[:10]) for c in curves.train_loss])
    assert np.allclose(ema.evaluation.costs, extra.evaluation.costs)  # the TSE-EMA query is charged 11 epochs too
    assert QueryConfig(curves="x", max_queries=1, extra_epoch=True).run_name(0).endswith("-T10-charge1-seed0")


def test_the_seed_fallback_scores_a_cell_lacking_the_seed_on_the_mean(seed_gap_store):  # noqa: F811
    config = dict(curves=str(seed_gap_store), max_queries=1, fitness="tse-ema", curve_seed=999)
    dropped = prepare_search(QueryConfig(**config))
    kept = prepare_search(QueryConfig(**config, seed_fallback=True))
    assert dropped.left_out == 1 and kept.left_out == 0
    mean = prepare_search(QueryConfig(curves=str(seed_gap_store), max_queries=1, fitness="tse-ema"))
    row = int(np.flatnonzero(~np.isfinite(dropped.evaluation.values))[0])
    assert kept.evaluation.values[row] == mean.evaluation.values[row]
    others = np.isfinite(dropped.evaluation.values)
    assert np.array_equal(kept.evaluation.values[others], dropped.evaluation.values[others])
    with pytest.raises(QueryError, match="give --curve-seed too"):
        QueryConfig(curves="x", max_queries=1, seed_fallback=True)


def test_the_paper_wallclock_follows_nats_bench_epoch_times(nats_fake_dir):
    """The three budgets stand in NATS-Bench's ratio of 200-epoch training times across the datasets (the fixture's
    cells: CIFAR-100 / CIFAR-10-valid 2.0, ImageNet16-120 / CIFAR-10-valid 6.07), and 3.3e5 s / 200 queries = 1650 s
    per Val Acc (T=200) query lies within the fixture's cells' CIFAR-10 times."""
    totals = {}
    for path in sorted(nats_fake_dir.glob("0*.pickle.pbz2")):
        with bz2.open(path) as handle:
            results = pickle.load(handle)["200"]["all_results"]
        for name in ("cifar10-valid", "cifar100", "ImageNet16-120"):
            totals.setdefault(name, []).append(sum(results[(name, 777)]["train_times"].values()))
    c10, c100, in16 = (np.array(totals[name]) for name in ("cifar10-valid", "cifar100", "ImageNet16-120"))
    assert PAPER_WALLCLOCK["cifar100"] / PAPER_WALLCLOCK["cifar10"] == pytest.approx((c100 / c10).mean(), rel=0.05)
    assert PAPER_WALLCLOCK["imagenet16-120"] / PAPER_WALLCLOCK["cifar10"] == pytest.approx((in16 / c10).mean(), rel=0.05)
    assert c10.min() < PAPER_WALLCLOCK["cifar10"] / 200 < c10.max()
    assert QueryConfig(curves="x", wallclock="paper", dataset="cifar100").wallclock == 6.5e5


def test_config_json_records_optuna_and_tpe_settings_and_a_pin_refuses_another_major(synthetic_store, tmp_path,
                                                                                      capsys):
    common = ["--curves", str(synthetic_store), "--algorithm", "tpe", "--fitness", "tse-ema", "--max-queries", "12",
              "--no-progress"]
    assert query_search.main([*common, "--out", str(tmp_path / "a")]) == 0
    (run,) = (tmp_path / "a").iterdir()
    recorded = json.loads((run / "config.json").read_text())["optuna"]
    assert recorded["version"] == optuna.__version__ and recorded["sampler"] == "TPESampler"
    assert recorded["settings"]["n_startup_trials"] == 10 and "multivariate" in recorded["settings"]
    # pinned to that record: the same search, query for query
    assert query_search.main([*common, "--out", str(tmp_path / "b"), "--tpe-settings", str(run / "config.json")]) == 0
    (pinned,) = (tmp_path / "b").iterdir()
    assert (pinned / "query.jsonl").read_text() == (run / "query.jsonl").read_text()
    other = dict(recorded, version=f"{int(optuna.__version__.split('.')[0]) - 1}.2.0")
    (tmp_path / "old.json").write_text(json.dumps({"optuna": other}))
    capsys.readouterr()
    assert query_search.main([*common, "--out", str(tmp_path / "c"), "--tpe-settings", str(tmp_path / "old.json")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --tpe-settings were recorded with optuna") and error.count("\n") == 1
    assert not (tmp_path / "c").exists()
