"""The NB201 learning-curve store: export from NATS-Bench (round trip against nats_bench itself), resume, bad records,
the partial-store note, the backends it serves (NB201 look-ups, the estimators), and the export command line."""
import bz2
import shutil

import numpy as np
import pytest

import darts_tse.nb201.curves_export as curves_export
from darts_tse.estimators import run_rank_study, tse_ema
from darts_tse.nb201 import BenchmarkError, CurveStoreError, export_curves, load_benchmark, load_curve_store
from darts_tse.nb201.curves import CURVE_SOURCES, SEEDS
from darts_tse.space import Genotype

from conftest import load_script

REAL = (0, 11, 284)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    """The store of the shared fixture's 3 real records: all datasets, 200 epochs, with per-seed arrays."""
    from conftest import NATS_FAKE_DIR

    if not NATS_FAKE_DIR.is_dir():
        pytest.skip(f"NATS-Bench fixture not found at {NATS_FAKE_DIR}")
    output = tmp_path_factory.mktemp("real") / "curves.npz"
    export_curves(NATS_FAKE_DIR, output, per_seed=True, progress=False)
    return output


def nats_api(directory):
    import nats_bench

    return nats_bench.create(str(directory), "tss", fast_mode=True, verbose=False)


@pytest.mark.parametrize("dataset", list(CURVE_SOURCES))
def test_export_round_trips_against_nats_bench_get_more_info(real_store, nats_fake_dir, dataset):
    store = load_curve_store(real_store)
    api = nats_api(nats_fake_dir)
    assert store.indices.tolist() == list(REAL)
    assert "3 of 15,625 NB201 architectures (a partial store" in store.coverage
    source = CURVE_SOURCES[dataset]
    for seed in (None, *SEEDS):
        curves = store.curves(dataset, seed)
        is_random = False if seed is None else seed
        for row, index in enumerate(REAL):
            infos = [api.get_more_info(index, source, iepoch=e, hp="200", is_random=is_random) for e in range(200)]
            assert curves.train_loss[row] == pytest.approx([i["train-loss"] for i in infos], rel=1e-6)
            assert np.cumsum(curves.epoch_time[row], dtype=float) == pytest.approx(
                [i["train-all-time"] for i in infos], rel=1e-6)
            for column, key in (("valid_loss", "valid-loss"), ("valid_acc", "valid-accuracy"),
                                ("valtest_acc", "valtest-accuracy")):
                expected = np.array([i.get(key, np.nan) for i in infos], dtype=float)
                np.testing.assert_allclose(getattr(curves, column)[row], expected, rtol=1e-6)  # NaN where absent
            last = api.get_more_info(index, source, iepoch=None, hp="200", is_random=is_random)
            assert curves.total_time[row] == pytest.approx(last["train-all-time"], rel=1e-12)
            assert curves.final_valid[row] == last["valid-accuracy"]
            test_source = "cifar10" if dataset == "cifar10" else source  # CIFAR-10 test: trained on all 50k
            truth = api.get_more_info(index, test_source, iepoch=None, hp="200", is_random=False)["test-accuracy"]
            assert curves.final_test[row] == truth  # the mean over seeds, also in a seed's arrays


def test_store_matches_the_nb201_table_and_has_the_documented_gaps(real_store, nb201_table):
    store = load_curve_store(real_store)
    table = load_benchmark(nb201_table)
    served = load_benchmark(real_store)  # the curves backend of load_benchmark
    for index in REAL:
        for dataset in CURVE_SOURCES:
            ours, theirs = served.query(index).accuracies[dataset], table.query(index).accuracies[dataset]
            assert (ours.valid, ours.test) == pytest.approx((theirs.valid, theirs.test), abs=1e-3)
    c100 = store.curves("cifar100")
    assert np.isnan(c100.valid_acc[:, :199]).all() and np.isfinite(c100.valid_acc[:, 199]).all()
    assert np.isfinite(c100.valtest_acc).all() and np.isnan(store.curves("cifar10").valtest_acc).all()
    with pytest.raises(BenchmarkError, match="no curves for NB201 index 12"):
        served.query(12)


def test_store_serves_the_estimators_rank_study(real_store):
    curve_set = load_curve_store(real_store).curve_set("cifar10")
    assert [r.id for r in curve_set.records] == ["0", "11", "284"]
    assert curve_set.records[1].curve.train_losses[:10] == pytest.approx(
        load_curve_store(real_store).curves("cifar10").train_loss[1, :10].tolist())
    study = run_rank_study(curve_set, [], max_epochs=10)
    assert study.architectures == ["0", "11", "284"] and "cifar10 test" in study.truth


def test_store_opens_fast_and_lazily(synthetic_store):
    store = load_curve_store(synthetic_store)  # metadata and indices only
    assert store._cache == {} and len(store) == 243 and store.num_epochs == 12 and store.datasets == ("cifar10",)
    assert store.curves("cifar10").train_loss.dtype == np.float32
    with pytest.raises(CurveStoreError, match="holds cifar10, not cifar100; export it with --nb201-datasets cifar100"):
        store.curves("cifar100")
    with pytest.raises(CurveStoreError, match="holds only the mean over seeds; export it again with --per-seed"):
        store.curves("cifar10", seed=777)


def test_export_refuses_an_existing_output_unless_asked(real_store, nats_fake_dir, tmp_path):
    output = tmp_path / "curves.npz"
    output.write_bytes(b"a user's file")
    with pytest.raises(CurveStoreError, match="exists; pass --overwrite"):
        export_curves(nats_fake_dir, output, datasets=["cifar10"], epochs=3, progress=False)
    assert output.read_bytes() == b"a user's file"
    export_curves(nats_fake_dir, output, datasets=["cifar10"], epochs=3, overwrite=True, progress=False)
    assert len(load_curve_store(output)) == 3
    assert not (tmp_path / "curves.npz.parts").exists()


def test_interrupted_export_resumes_where_it_stopped(synthetic_nats_dir, synthetic_store, tmp_path, monkeypatch):
    indices = [g.index for g in load_curve_store(synthetic_store).genotypes][:23]
    output = tmp_path / "resumed.npz"
    real_read = curves_export.read_record
    read = []

    def read_then_interrupt(bench, index, *args):
        if len(read) == 12:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third shard
        read.append(index)
        return real_read(bench, index, *args)

    monkeypatch.setattr(curves_export, "read_record", read_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_curves(synthetic_nats_dir, output, datasets=["cifar10"], epochs=12, indices=indices, shard_size=5,
                      progress=False)
    assert not output.exists() and len(list((tmp_path / "resumed.npz.parts").glob("shard-*.npz"))) == 2
    monkeypatch.setattr(curves_export, "read_record", lambda bench, index, *args: (read.append(index), real_read(
        bench, index, *args))[1])
    with pytest.raises(CurveStoreError, match="other settings \\(epochs differ\\)"):
        export_curves(synthetic_nats_dir, output, datasets=["cifar10"], epochs=11, indices=indices, shard_size=5,
                      progress=False)
    report = export_curves(synthetic_nats_dir, output, datasets=["cifar10"], epochs=12, indices=indices, shard_size=5,
                           progress=False)
    assert report.resumed == 10 and report.exported == 23
    assert read[12:] == sorted(indices)[10:]  # the two written shards were not read again
    resumed, whole = load_curve_store(output), load_curve_store(synthetic_store)
    rows = [whole.row(i) for i in resumed.indices]
    for column in ("train_loss", "valid_acc", "epoch_time", "total_time", "final_test"):
        np.testing.assert_array_equal(getattr(resumed.curves("cifar10"), column), getattr(whole.curves("cifar10"), column)[rows])
    assert not (tmp_path / "resumed.npz.parts").exists()


def test_a_deleted_shard_is_exported_again_under_a_new_number(synthetic_nats_dir, synthetic_store, tmp_path,
                                                               monkeypatch):
    indices = [g.index for g in load_curve_store(synthetic_store).genotypes][:20]
    output = tmp_path / "c.npz"
    parts = tmp_path / "c.npz.parts"
    real_read = curves_export.read_record

    def interrupt_after(count):
        read = []

        def read_record(bench, index, *args):
            if len(read) == count:
                raise KeyboardInterrupt
            read.append(index)
            return real_read(bench, index, *args)
        monkeypatch.setattr(curves_export, "read_record", read_record)

    def export():
        return export_curves(synthetic_nats_dir, output, datasets=["cifar10"], epochs=12, indices=indices,
                             shard_size=5, progress=False)

    interrupt_after(12)
    with pytest.raises(KeyboardInterrupt):
        export()
    assert [f.name for f in sorted(parts.glob("shard-*.npz"))] == ["shard-00000.npz", "shard-00001.npz"]
    with np.load(parts / "shard-00000.npz") as shard:  # shards hold the store's dtypes (float32 curves)
        assert shard["cifar10.train_loss"].dtype == np.float32 and shard["cifar10.total_time"].dtype == np.float64
    (parts / "shard-00000.npz").unlink()  # a damaged shard, deleted as the error message says
    kept = (parts / "shard-00001.npz").read_bytes()
    interrupt_after(7)
    with pytest.raises(KeyboardInterrupt):
        export()
    assert (parts / "shard-00001.npz").read_bytes() == kept  # not overwritten by the next shard
    assert [f.name for f in sorted(parts.glob("shard-*.npz"))] == ["shard-00001.npz", "shard-00002.npz"]
    monkeypatch.undo()
    assert export().exported == 20
    resumed, whole = load_curve_store(output), load_curve_store(synthetic_store)
    rows = [whole.row(i) for i in resumed.indices]
    for column in ("train_loss", "valid_acc", "epoch_time", "total_time", "final_test"):
        np.testing.assert_array_equal(getattr(resumed.curves("cifar10"), column), getattr(whole.curves("cifar10"), column)[rows])


def test_a_failed_export_that_wrote_no_shard_leaves_nothing_behind(nats_fake_dir, tmp_path, monkeypatch):
    output = tmp_path / "c.npz"
    monkeypatch.setattr(curves_export, "read_record", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        export_curves(nats_fake_dir, output, datasets=["cifar10"], epochs=3, progress=False)
    assert not (tmp_path / "c.npz.parts").exists()
    monkeypatch.undo()
    with pytest.raises(CurveStoreError, match="no architecture .* could be exported"):
        export_curves(nats_fake_dir, output, datasets=["cifar10"], epochs=3, indices=[7], progress=False)
    assert not (tmp_path / "c.npz.parts").exists()
    # settings left by an older failed start are no reason to refuse other flags, when no shard was written
    (tmp_path / "c.npz.parts").mkdir()
    (tmp_path / "c.npz.parts" / "settings.json").write_text('{"epochs": 3}')
    report = export_curves(nats_fake_dir, output, datasets=["cifar10"], epochs=4, progress=False)
    assert report.exported == 3 and not (tmp_path / "c.npz.parts").exists()


def test_bad_records_are_reported_by_index_and_left_out(nats_fake_dir, tmp_path):
    copy = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    shutil.copytree(nats_fake_dir, copy)
    (copy / "000011.pickle.pbz2").chmod(0o644)
    (copy / "000011.pickle.pbz2").write_bytes(bz2.compress(b"not a pickle"))
    report = export_curves(copy, tmp_path / "c.npz", datasets=["cifar10"], epochs=2, indices=[0, 11, 284, 7],
                           progress=False)
    assert [b["index"] for b in report.bad] == [7, 11]
    assert "no record file" in report.bad[0]["reason"] and "UnpicklingError" in report.bad[1]["reason"]
    store = load_curve_store(tmp_path / "c.npz")
    assert store.indices.tolist() == [0, 284] and [b["index"] for b in store.bad] == [7, 11]


def test_export_command_line(nats_fake_dir, tmp_path, capsys):
    main = load_script("export_nb201_curves").main
    output = tmp_path / "c.npz"
    assert main(["--nats", str(nats_fake_dir), "-o", str(output), "--nb201-datasets", "cifar10,cifar100", "--curve-epochs", "4",
                 "--indices", "0,11", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {output}: 2 of 15,625 NB201 architectures (a partial store" in out
    assert load_curve_store(output).datasets == ("cifar10", "cifar100")
    cases = [
        (["--nats", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.npz")], "does not exist"),
        (["--nats", str(nats_fake_dir), "-o", str(output)], "exists; pass --overwrite"),
        (["--nats", str(nats_fake_dir), "-o", str(tmp_path / "x.csv")], "give -o x.npz"),
        (["--nats", str(nats_fake_dir), "-o", str(tmp_path / "x.npz"), "--nb201-datasets", "mnist"], "unknown dataset(s) mnist"),
        (["--nats", str(nats_fake_dir), "-o", str(tmp_path / "x.npz"), "--curve-epochs", "300"], "--curve-epochs must be an integer in 1..200"),
        (["--nats", str(nats_fake_dir), "-o", str(tmp_path / "x.npz"), "--indices", "5-2"], "bad index or range '5-2'"),
        (["--nats", str(nats_fake_dir), "-o", str(tmp_path / "x.npz"), "--indices", "99999"], "indices lie in 0..15624"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_a_file_that_is_not_a_store_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK not a zip")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    for path, message in ((bad, "cannot read curve store"), (tmp_path / "plain.npz", "is not a curve store"),
                          (tmp_path / "none.npz", "not found")):
        with pytest.raises(CurveStoreError, match=message):
            load_curve_store(path)


def test_synthetic_cells_rank_like_their_test_accuracy(synthetic_store):
    """The synthetic directory's promise (tests/nats_synthetic.py): every fitness orders cells as their test."""
    from nats_synthetic import BEST

    store = load_curve_store(synthetic_store)
    curves = store.curves("cifar10")
    order = np.argsort(curves.final_test)
    ema = np.array([tse_ema(curves.train_loss[r, :10].astype(float)) for r in range(len(order))])
    assert (np.diff(ema[order]) < 0).all() and (np.diff(curves.valid_acc[order, 9]) > 0).all()
    assert store.genotypes[order[-1]] == BEST == Genotype.from_index(int(store.indices[order[-1]]))


def test_rank_estimators_reads_a_curve_store(real_store, tmp_path, capsys):
    main = load_script("rank_estimators").main
    assert main(["--curves", str(real_store), "--nb201-dataset", "cifar100", "--max-epochs", "12", "--indices", "0,11,284"]) == 0
    out = capsys.readouterr().out
    assert "curve store" in out and "(cifar100 curves, hp=200, mean over seeds)" in out
    assert "NB201 cifar100 test accuracy after 200 epochs, mean over seeds" in out
    assert main(["--curves", str(real_store), "--nb201-dataset", "cifar10"]) == 2
    assert "use --nb201-dataset cifar10-valid" in capsys.readouterr().err
