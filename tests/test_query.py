"""Query-based NAS over a curve store: the settings, the simulated clock, regularised evolution, the optuna
strategies, the records of a run, and TPE against random search on the synthetic cells (tests/nats_synthetic.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from darts_tse.nb201 import export_curves, load_curve_store
from darts_tse.query import (
    ArchitectureSpace,
    OptunaSearch,
    QueryConfig,
    QueryError,
    RegularizedEvolution,
    build_strategy,
    prepare_search,
    run_query_search,
)
from darts_tse.space import Genotype

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def real_c10_store(tmp_path_factory):
    """The shared fixture's 3 real records, CIFAR-10, 200 epochs."""
    from conftest import NATS_FAKE_DIR

    if not NATS_FAKE_DIR.is_dir():
        pytest.skip(f"NATS-Bench fixture not found at {NATS_FAKE_DIR}")
    output = tmp_path_factory.mktemp("real") / "c10.npz"
    export_curves(NATS_FAKE_DIR, output, datasets=["cifar10"], progress=False)
    return output


@pytest.fixture(scope="module")
def seed_gap_store(tmp_path_factory):
    """The 3 real records with per-seed arrays, CIFAR-10 and CIFAR-100, 12 epochs, where cell 11 lacks seed 999 on
    cifar10-valid (as 7,456 of NB201's CIFAR-10 cells have only 2 seeds at hp=200)."""
    import bz2
    import pickle
    import shutil

    from nats_bench.api_utils import pickle_load

    from conftest import NATS_FAKE_DIR

    if not NATS_FAKE_DIR.is_dir():
        pytest.skip(f"NATS-Bench fixture not found at {NATS_FAKE_DIR}")
    folder = tmp_path_factory.mktemp("seed-gap")
    source = folder / "NATS-tss-v1_0-3ffb9-simple"
    shutil.copytree(NATS_FAKE_DIR, source)
    record = pickle_load(str(source / "000011.pickle.pbz2"))
    record["200"]["dataset_seed"]["cifar10-valid"].remove(999)
    del record["200"]["all_results"][("cifar10-valid", 999)]
    (source / "000011.pickle.pbz2").chmod(0o644)
    with bz2.open(source / "000011.pickle.pbz2", "wb") as handle:
        pickle.dump(record, handle)
    output = folder / "curves.npz"
    export_curves(source, output, datasets=["cifar10", "cifar100"], epochs=12, per_seed=True, progress=False)
    return output


def read_rows(run_dir):
    return [json.loads(line) for line in (run_dir / "query.jsonl").read_text().splitlines()]


def search(store, tmp_path, **settings):
    config = QueryConfig(curves=str(store), out_dir=str(tmp_path / "runs"), **settings)
    return [read_rows(path) for path in run_query_search(config, progress=False)]


@pytest.mark.parametrize("settings, message", [
    ({}, "give --wallclock SECONDS"),
    ({"max_queries": 5, "algorithm": "bo"}, "--algorithm 'bo' is not one of rs, re, tpe"),
    ({"max_queries": 5, "fitness": "val-acc-final", "budget_epochs": 10}, "drop --budget-epochs 10"),
    ({"max_queries": 5, "budget_epochs": 0}, "--budget-epochs must be an integer 1..200"),
    ({"max_queries": 5, "sample_size": 20, "population": 10}, "--sample-size must be an integer 1..10"),
    ({"max_queries": 5, "fitness": "tse-e", "tse_e": 0.5}, "--tse-e must be a whole number of epochs"),
    ({"max_queries": 5, "fitness": "tse-e", "tse_e": 30}, "--tse-e must be a whole number of epochs in 1..T=10"),
    ({"max_queries": 5, "tse_e": float("inf")}, "--tse-e must be a finite number, got inf"),
    ({"max_queries": 5, "fitness": "tse-e", "tse_e": float("nan")}, "--tse-e must be a finite number, got nan"),
    ({"max_queries": 5, "gamma": float("nan")}, "--gamma must be a finite number"),
    ({"max_queries": 5, "gamma": 1.5}, "--gamma must lie in [0, 1]"),
    ({"max_queries": 5, "wallclock": -1.0}, "--wallclock must be a positive number"),
    ({"max_queries": 5, "storage": "sqlite:///x.db"}, "drop --storage for --algorithm re"),
    ({"max_queries": 5, "algorithm": "tpe", "storage": "sqlite:///x.db", "runs": 2}, "give --runs 1"),
    ({"max_queries": 5, "study_name": "s"}, "give --storage too"),
    ({"max_queries": 5, "extend_study": True}, "give --storage too"),
])
def test_config_rejects_bad_settings_naming_the_flag(settings, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(".", r"\.").replace("[", r"\[")):
        QueryConfig(curves="c.npz", **settings)


@pytest.mark.parametrize("settings", [
    {"fitness": "tse-ema", "tse_e": 30},  # E is TSE-E's
    {"fitness": "val-acc", "gamma": 2.0},  # gamma is TSE-EMA's
    {"algorithm": "tpe", "population": 10, "sample_size": 20},  # RE's tournament
])
def test_settings_the_search_does_not_use_refuse_nothing_and_do_not_tell_searches_apart(settings):
    config = QueryConfig(curves="c.npz", max_queries=5, **settings)
    default = QueryConfig(curves="c.npz", max_queries=5, **{k: settings[k] for k in ("algorithm", "fitness") if k in settings})
    assert config.used() == default.used()


def test_storage_url_password_is_masked():
    config = QueryConfig(curves="c.npz", algorithm="tpe", max_queries=1, storage="postgresql://me:secret@host/db")
    assert config.to_dict()["storage"] == "postgresql://me:***@host/db"


@pytest.mark.parametrize("fitness, epochs, iepoch", [("tse-ema", 10, 9), ("val-acc", 3, 2), ("val-acc-final", 200, None)])
def test_clock_charges_the_benchmarks_training_time_of_the_epochs_needed(real_c10_store, nats_fake_dir, tmp_path,
                                                                         fitness, epochs, iepoch):
    import nats_bench

    api = nats_bench.create(str(nats_fake_dir), "tss", fast_mode=True, verbose=False)
    budget = None if fitness == "val-acc-final" else epochs
    wallclock = 60.0 * epochs  # 5 to 12 queries
    (rows,) = search(real_c10_store, tmp_path, algorithm="rs", fitness=fitness, budget_epochs=budget, wallclock=wallclock)
    for row in rows:
        charged = api.get_more_info(row["index"], "cifar10-valid", iepoch=iepoch, hp="200", is_random=False)
        assert row["cost_s"] == pytest.approx(charged["train-all-time"], rel=1e-6)
    assert [r["clock_s"] for r in rows] == pytest.approx(np.cumsum([r["cost_s"] for r in rows]).tolist())
    assert rows[-1]["clock_s"] >= wallclock > rows[-2]["clock_s"]  # the query that crosses the wall-clock is the last


def test_regularised_evolution_mutates_exactly_one_edge_of_the_tournament_winner():
    space = ArchitectureSpace(list(Genotype.all()))
    evolution = RegularizedEvolution(space, population_size=10, sample_size=3, seed=0)
    rng = np.random.default_rng(1)
    for query in range(60):
        members = list(evolution.population)
        before = [g for g, _ in members]
        replay = np.random.default_rng()
        replay.bit_generator.state = evolution.rng.bit_generator.state  # the draw the tournament will make
        child = evolution.propose()
        info = evolution.proposal_info()
        if query < 10:
            assert info == {"parent": None, "mutated_edge": None}  # the random initial population
        else:
            parent = evolution.last_parent
            assert parent in before and info["parent"] == parent.index
            differ = [e for e in range(6) if parent.ops[e] != child.ops[e]]
            assert differ == [info["mutated_edge"]]
            sample = [members[int(i)] for i in replay.integers(len(members), size=3)]  # with replacement
            assert evolution.last_sample == sample
            best = max(f for _, f in sample)
            assert parent == next(g for g, f in sample if f == best)  # the fittest drawn (the first of equals)
        evolution.observe(child, float(rng.normal()))
        assert len(evolution.population) == min(query + 1, 10)
        if query >= 10:
            assert [g for g, _ in evolution.population][:-1] == before[1:]  # aging: the oldest leaves


def test_regularised_evolution_mutation_stays_inside_a_partial_store(synthetic_store):
    setup = prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1))
    evolution = RegularizedEvolution(setup.space, population_size=5, sample_size=2, seed=3)
    for _ in range(40):
        child = evolution.propose()
        assert child in setup.space
        if evolution.last_parent is not None:
            assert sum(a != b for a, b in zip(evolution.last_parent.ops, child.ops)) == 1
            assert evolution.last_edge != 5  # edge 5 is skip_connect in every synthetic cell: no neighbour there
        evolution.observe(child, float(setup.evaluation.values[setup.rows[child]]))


def test_strategy_state_dicts_restore_the_search(synthetic_store):
    setup = prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1))
    fitness = {g: float(setup.evaluation.values[r]) for g, r in setup.rows.items()}
    first = RegularizedEvolution(setup.space, population_size=6, sample_size=2, seed=5)
    for _ in range(9):
        cell = first.propose()
        first.observe(cell, fitness[cell])
    second = RegularizedEvolution(setup.space, population_size=6, sample_size=2, seed=99)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for _ in range(5):
        a, b = first.propose(), second.propose()
        assert a == b
        first.observe(a, fitness[a])
        second.observe(b, fitness[b])
    tpe = OptunaSearch(setup.space, "tpe", seed=0)
    for _ in range(4):
        cell = tpe.propose()
        tpe.observe(cell, fitness[cell])
    restored = OptunaSearch(setup.space, "tpe", seed=0)
    restored.load_state_dict(tpe.state_dict())
    assert [t.params for t in restored.completed_trials()] == [t.params for t in tpe.completed_trials()]
    with pytest.raises(QueryError, match="propose called twice"):
        restored.propose(), restored.propose()


def test_a_sparse_store_tolerates_twenty_times_the_misses_a_uniform_proposal_expects():
    from darts_tse.query.optuna_search import MAX_MISSES
    product = [Genotype((op, *Genotype.from_index(0).ops[1:])) for op in ("none", "skip_connect", "nor_conv_1x1")]
    assert OptunaSearch(ArchitectureSpace(product), "rs", seed=0).max_misses == MAX_MISSES  # no misses: the fixed limit
    three = [Genotype.from_index(i) for i in (0, 11, 284)]  # their per-edge choices span 324 cells
    assert OptunaSearch(ArchitectureSpace(three), "rs", seed=0).max_misses == 20 * 324 // 3
    scattered = [Genotype.from_index(i) for i in range(0, 15625, 313)]  # 50 cells, every edge takes all 5 ops
    assert OptunaSearch(ArchitectureSpace(scattered), "rs", seed=0).max_misses == 20 * 5 ** 6 // 50  # 6,250


def test_optuna_proposals_outside_a_partial_store_are_failed_trials_not_queries():
    cells = [Genotype.from_index(i) for i in (0, 11, 284)]  # per-edge choices span many cells the space lacks
    search = OptunaSearch(ArchitectureSpace(cells), "rs", seed=0)
    drawn = []
    for _ in range(6):
        cell = search.propose()
        drawn.append(cell)
        search.observe(cell, 1.0)
    assert set(drawn) <= set(cells) and search.misses > 0
    states = [t.state.name for t in search.study.trials]
    assert states.count("COMPLETE") == 6 and states.count("FAIL") == search.misses


def test_regret_decreases_monotonically_and_the_incumbent_only_improves(synthetic_store, tmp_path):
    for algorithm in ("rs", "re", "tpe"):
        (rows,) = search(synthetic_store, tmp_path / algorithm, algorithm=algorithm, max_queries=40, population=10,
                         sample_size=3)
        assert len(rows) == 40 and [r["query"] for r in rows] == list(range(1, 41))
        if algorithm != "re":
            assert [r["trial"] for r in rows] == list(range(40))  # no proposal left the product store: no misses
        best_regret = [r["best_regret"] for r in rows]
        assert all(b <= a for a, b in zip(best_regret, best_regret[1:])) and min(best_regret) >= 0
        fitness = [r["incumbent_fitness"] for r in rows]
        assert all(b >= a for a, b in zip(fitness, fitness[1:]))
        # on the synthetic cells every fitness ranks as the test accuracy, so the incumbent's regret falls too
        regret = [r["regret"] for r in rows]
        assert all(b <= a + 1e-12 for a, b in zip(regret, regret[1:]))
        assert regret == pytest.approx(best_regret)


def test_run_directories_record_everything_and_are_never_overwritten(synthetic_store, tmp_path):
    config = QueryConfig(curves=str(synthetic_store), algorithm="re", max_queries=12, runs=2, seed=4, population=5,
                         sample_size=2, out_dir=str(tmp_path))
    messages = []
    outs = run_query_search(config, progress=False, announce=messages.append)
    assert [p.name for p in outs] == ["query-cifar10-re-tse-ema-T10-seed4", "query-cifar10-re-tse-ema-T10-seed5"]
    assert "243 of 15,625 NB201 architectures (a partial store" in messages[0]
    settings = json.loads((outs[0] / "config.json").read_text())
    assert settings["seed"] == 4 and settings["run"] == 1 and settings["epochs_charged"] == 10
    assert settings["fitness_label"] == "TSE-EMA (T=10)" and "gamma=0.999" in settings["fitness_definition"]
    assert settings["labels"]["test"] == "NB201 cifar10 test accuracy (%), 200 epochs, mean over seeds"
    assert settings["space_size"] == 243 and settings["store"]["num_architectures"] == 243
    summary = json.loads((outs[1] / "summary.json").read_text())
    rows = read_rows(outs[1])
    assert summary["queries"] == 12 == len(rows) and summary["stopped"] == "max_queries"
    assert summary["incumbent"]["index"] == rows[-1]["incumbent_index"]
    assert summary["optimum"]["arch"] == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|" \
                                         "nor_conv_3x3~1|skip_connect~2|"
    assert read_rows(outs[0]) != rows  # another seed, another search
    files = {path: path.read_bytes() for out in outs for path in out.iterdir()}
    messages = []
    assert run_query_search(config, progress=False, announce=messages.append) == outs  # finished runs are skipped
    assert sum("finished earlier (summary.json); skipped" in m for m in messages) == 2
    other = QueryConfig(**{**config.to_dict(), "max_queries": 13})
    with pytest.raises(QueryError, match="holds a finished run of other settings \\(max_queries differ\\)"):
        run_query_search(other, progress=False)
    (outs[1] / "summary.json").unlink()  # as after an interrupt: a run without its summary
    del files[outs[1] / "summary.json"]
    with pytest.raises(QueryError, match=f"run directory {outs[1]} holds an unfinished run .*move it out of its --out folder"):
        run_query_search(config, progress=False)
    assert {path: path.read_bytes() for out in outs for path in out.iterdir()} == files  # nothing rewritten


def test_an_interrupted_series_of_runs_continues_with_the_same_command(synthetic_store, tmp_path, monkeypatch):
    import darts_tse.query.runner as runner

    config = QueryConfig(curves=str(synthetic_store), algorithm="rs", max_queries=5, runs=3, out_dir=str(tmp_path))
    real_run_one = runner.run_one

    def interrupt_the_second(config, setup, seed, out, **kwargs):
        if seed == 1:
            out.mkdir()
            raise KeyboardInterrupt
        return real_run_one(config, setup, seed, out, **kwargs)

    monkeypatch.setattr(runner, "run_one", interrupt_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_query_search(config, progress=False)
    monkeypatch.undo()
    (tmp_path / config.run_name(1)).rmdir()  # what the interrupt message asks for
    outs = run_query_search(config, progress=False)
    assert all((out / "summary.json").is_file() for out in outs)


def test_tpe_finds_the_best_cell_in_fewer_queries_than_random_search(synthetic_store):
    """A statistical check over fixed seeds, not a timing: the queries until the best of 243 cells is first queried."""
    setup = prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1))
    best = max(setup.rows, key=lambda g: setup.evaluation.test[setup.rows[g]])
    cap = 150

    def queries_to_best(algorithm, seed):
        strategy = OptunaSearch(setup.space, algorithm, seed=seed)
        for query in range(1, cap + 1):
            cell = strategy.propose()
            if cell == best:
                return query
            strategy.observe(cell, float(setup.evaluation.values[setup.rows[cell]]))
        return cap + 1  # not found: counted as cap + 1 (an underestimate for RS, which favours RS)

    seeds = range(8)
    tpe = [queries_to_best("tpe", s) for s in seeds]
    rs = [queries_to_best("rs", s) for s in seeds]
    assert np.mean(tpe) < 0.6 * np.mean(rs), (tpe, rs)
    assert sum(t < r for t, r in zip(tpe, rs)) >= 6, (tpe, rs)


def test_query_room_imports_no_torch():
    code = "import sys, darts_tse.query, darts_tse.cli.query_search, darts_tse.cli.plot_query; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_store_decides_the_space(real_c10_store, synthetic_store):
    setup = prepare_search(QueryConfig(curves=str(real_c10_store), max_queries=1, fitness="val-acc", budget_epochs=200))
    assert len(setup.space) == 3 and setup.left_out == 0 and setup.optimum["index"] == 11
    assert load_curve_store(real_c10_store).curves("cifar10").valid_acc[1, 199] == pytest.approx(
        setup.evaluation.values[1], rel=1e-6)
    with pytest.raises(QueryError, match="T=20 epochs, but the curve store keeps 12 epochs per curve"):
        prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1, budget_epochs=20))
    # val-acc-final needs only the 200-epoch numbers, which a 12-epoch store keeps
    final = prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1, fitness="val-acc-final"))
    assert np.isfinite(final.evaluation.values).all() and (final.evaluation.costs > 190 * 4.8).all()


def test_one_seeds_curves_leave_out_the_cells_that_lack_it_and_are_judged_by_the_mean(seed_gap_store, tmp_path):
    store = load_curve_store(seed_gap_store)
    mean, seed999 = store.curves("cifar10"), store.curves("cifar10", 999)
    assert np.isnan(seed999.valid_acc[1]).all() and np.isfinite(seed999.valid_acc[[0, 2]]).all()
    for fitness in ("val-acc", "tse-ema", "val-acc-final"):
        setup = prepare_search(QueryConfig(curves=str(seed_gap_store), max_queries=1, fitness=fitness, curve_seed=999))
        assert setup.left_out == 1 and sorted(g.index for g in setup.rows) == [0, 284], fitness
        # the numbers the search is judged by are the mean over seeds, as config.json's labels say
        np.testing.assert_array_equal(setup.evaluation.valid, mean.final_valid)
        np.testing.assert_array_equal(setup.evaluation.test, mean.final_test)
    assert (seed999.final_valid[[0, 2]] != mean.final_valid[[0, 2]]).all()  # so the seed's would be another number
    setup = prepare_search(QueryConfig(curves=str(seed_gap_store), max_queries=1, fitness="val-acc", curve_seed=999))
    assert setup.evaluation.label == "Val Acc (T=10)" and "valid-accuracy (x-valid)" in setup.evaluation.description
    assert setup.evaluation.values[[0, 2]].tolist() == seed999.valid_acc[[0, 2], 9].astype(float).tolist()
    assert prepare_search(QueryConfig(curves=str(seed_gap_store), max_queries=1, fitness="val-acc",
                                      curve_seed=888)).left_out == 0
    (rows,) = search(seed_gap_store, tmp_path, algorithm="rs", fitness="val-acc", curve_seed=999, max_queries=6)
    assert {row["valid"] for row in rows} <= set(mean.final_valid[[0, 2]].tolist())


def test_val_acc_at_t_on_cifar100_names_valtest_and_says_so_at_the_start(seed_gap_store, tmp_path):
    at_t = prepare_search(QueryConfig(curves=str(seed_gap_store), dataset="cifar100", max_queries=1, fitness="val-acc"))
    final = prepare_search(QueryConfig(curves=str(seed_gap_store), dataset="cifar100", max_queries=1,
                                       fitness="val-acc-final"))
    assert at_t.evaluation.label == "Val Acc[valtest] (T=10)" and "valtest-accuracy" in at_t.evaluation.description
    assert final.evaluation.label == "Val Acc (T=200)" and "x-valid" in final.evaluation.description
    assert at_t.evaluation.values.tolist() == load_curve_store(seed_gap_store).curves(
        "cifar100").valtest_acc[:, 9].astype(float).tolist()
    messages = []
    config = QueryConfig(curves=str(seed_gap_store), dataset="cifar100", fitness="val-acc", algorithm="rs",
                         max_queries=2, out_dir=str(tmp_path))
    [out] = run_query_search(config, progress=False, announce=messages.append)
    [note] = [m for m in messages if m.startswith("note: ")]
    assert "reads valtest" in note and "x-test half" in note and "val-acc-final uses x-valid" in note
    assert json.loads((out / "config.json").read_text())["fitness_label"] == "Val Acc[valtest] (T=10)"
    messages = []  # CIFAR-10 has x-valid at every epoch: no note
    run_query_search(QueryConfig(curves=str(seed_gap_store), fitness="val-acc", algorithm="rs", max_queries=2,
                                 out_dir=str(tmp_path)), progress=False, announce=messages.append)
    assert not any(m.startswith("note: ") for m in messages)


# ---- a shared optuna study ---------------------------------------------------------------------------------------
def shared(synthetic_store, tmp_path, **settings):
    settings = {"algorithm": "tpe", "max_queries": 3, "out_dir": str(tmp_path / "runs"),
                "storage": f"sqlite:///{tmp_path / 'study.db'}", **settings}
    return QueryConfig(curves=str(synthetic_store), **settings)


@pytest.mark.slow
def test_a_shared_study_says_what_it_joined_and_refuses_the_trials_of_a_finished_search(synthetic_store, tmp_path):
    import optuna

    messages = []
    run_query_search(shared(synthetic_store, tmp_path, seed=0), progress=False, announce=messages.append)
    name = "query-cifar10-tpe-tse-ema-T10"  # the default study name: the same for a later search with these flags
    assert any(f"optuna study '{name}'" in m and "no trials yet" in m for m in messages), messages
    with pytest.raises(QueryError, match="already holds 3 completed trials of a search that finished .* give a new "
                                         "--study-name, or --extend-study"):
        run_query_search(shared(synthetic_store, tmp_path, seed=1), progress=False)
    assert not (tmp_path / "runs" / "query-cifar10-tpe-tse-ema-T10-seed1").exists()
    messages = []
    run_query_search(shared(synthetic_store, tmp_path, seed=1, extend_study=True), progress=False,
                     announce=messages.append)
    assert any("joined, with 3 completed trials of other workers" in m for m in messages), messages
    config = json.loads((tmp_path / "runs" / "query-cifar10-tpe-tse-ema-T10-seed1" / "config.json").read_text())
    assert config["study_name"] == name
    # workers of a study still running join it without a flag
    setup = prepare_search(shared(synthetic_store, tmp_path, seed=2, study_name="running"))
    first = build_strategy(shared(synthetic_store, tmp_path, seed=2, study_name="running"), setup, 2)
    for _ in range(2):
        cell = first.propose()
        first.observe(cell, float(setup.evaluation.values[setup.rows[cell]]))
    second = build_strategy(shared(synthetic_store, tmp_path, seed=3, study_name="running"), setup, 3)
    assert second.trials_at_start == 2
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len([key for key in study.user_attrs if key.startswith("finished worker: seed")]) == 2


def test_an_interrupted_worker_tells_its_pending_trial_failed(synthetic_store, tmp_path, monkeypatch):
    import optuna

    real_observe, calls = OptunaSearch.observe, []

    def interrupt_the_third(self, genotype, fitness):
        calls.append(genotype)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C between the proposal and its fitness
        return real_observe(self, genotype, fitness)

    monkeypatch.setattr(OptunaSearch, "observe", interrupt_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_query_search(shared(synthetic_store, tmp_path, max_queries=5), progress=False)
    study = optuna.load_study(study_name="query-cifar10-tpe-tse-ema-T10", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert study.trials[-1].user_attrs["reason"] == "the worker stopped before it was scored"


def test_storage_that_cannot_be_opened_or_is_locked_is_one_line_each(synthetic_store, tmp_path):
    import sqlite3

    setup = prepare_search(QueryConfig(curves=str(synthetic_store), max_queries=1))
    with pytest.raises(QueryError, match="cannot open optuna storage .*unable to open database file.*in a folder that "
                                         "exists") as error:
        OptunaSearch(setup.space, "tpe", storage=f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")
    assert "tries" not in str(error.value)  # not retried as workers racing to create the tables
    url = f"sqlite:///{tmp_path / 'study.db'}?timeout=0.05"
    search = OptunaSearch(setup.space, "tpe", storage=url, study_name="s")
    holder = sqlite3.connect(tmp_path / "study.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another worker holding the file
    try:
        with pytest.raises(QueryError, match="is busy \\(OperationalError: database is locked\\).*PostgreSQL"):
            search.propose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
