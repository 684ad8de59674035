"""Official-API (.pth via nas_201_api) and NATS-Bench backends, and the export to a table."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from darts_tse.nb201 import DATASETS, BenchmarkError, load_benchmark
from darts_tse.nb201.base import canonical_arch_strings
from darts_tse.nb201.export import export_table
from darts_tse.nb201.nats import NatsBenchmark
from darts_tse.nb201.official import OfficialBenchmark
from darts_tse.nb201.table import TableBenchmark

nas_201_api = pytest.importorskip("nas_201_api")
nats_bench = pytest.importorskip("nats_bench")

REPO_ROOT = Path(__file__).resolve().parents[1]
NATS_INDEXES = (0, 11, 284)
# The eval sets each NB201 dataset records, as in the real files.
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
BASE = {  # distinct per (dataset, set) so any mix-up (cifar10 vs cifar10-valid, x-test vs ori-test) shows
    ("cifar10-valid", "x-valid"): 80.0, ("cifar10-valid", "ori-test"): 70.0, ("cifar10", "ori-test"): 90.0,
    ("cifar100", "ori-test"): 60.0, ("cifar100", "x-valid"): 65.0, ("cifar100", "x-test"): 55.0,
    ("ImageNet16-120", "ori-test"): 30.0, ("ImageNet16-120", "x-valid"): 35.0, ("ImageNet16-120", "x-test"): 25.0,
}  # fmt: skip
# index -> (number of seeds, datasets it was trained on)
SYNTHETIC = {6111: (3, tuple(EVAL_SETS)), 1835: (2, tuple(EVAL_SETS)), 7: (1, ("cifar10-valid", "cifar10", "cifar100"))}
SEEDS = (777, 888, 999)


def final_accuracy(index, dataset, set_name, k):
    return BASE[(dataset, set_name)] + index / 1000 + 0.5 * k


def _trial(arch_str, dataset, seed, k, index, epochs, less):
    from nas_201_api import ResultsCount

    config = {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": 10}
    train_accs = {e: 50.0 + e / epochs for e in range(epochs)}
    trial = ResultsCount(dataset, None, train_accs, {e: 1.0 for e in range(epochs)}, 0.5, 50.0, config, seed, epochs, [0.01])
    accs, losses, times = {}, {}, {}
    for set_name in EVAL_SETS[dataset]:
        final = 11.0 if less else final_accuracy(index, dataset, set_name, k)
        for e in range(epochs):
            key = f"{set_name}@{e}"
            accs[key] = final if e == epochs - 1 else final - 20.0  # earlier epochs differ: reading one shows
            losses[key], times[key] = 1.0, 0.1
    trial.update_eval(accs, losses, times)
    return trial


def _arch_results(index, n_seeds, datasets, less):
    from nas_201_api import ArchResults

    arch_str = canonical_arch_strings()[index]
    results = ArchResults(index, arch_str)
    for dataset in datasets:
        for k in range(n_seeds):
            results.update(dataset, SEEDS[k], _trial(arch_str, dataset, SEEDS[k], k, index, 12 if less else 200, less))
    return results.state_dict()


def official_dict(records):
    """A benchmark dict in the official NB201 format: ``records`` maps index -> {'less': state, 'full': state}."""
    return {
        "meta_archs": list(canonical_arch_strings()),
        "arch2infos": records,
        "evaluated_indexes": sorted(records),
        "total_archs": len(canonical_arch_strings()),
    }


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    records = {
        index: {"less": _arch_results(index, n, sets, less=True), "full": _arch_results(index, n, sets, less=False)}
        for index, (n, sets) in SYNTHETIC.items()
    }
    path = tmp_path_factory.mktemp("nb201") / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(official_dict(records), path)
    return path


def read_rows(path):
    with open(path, newline="") as handle:
        return {row["index"]: row for row in csv.DictReader(handle)}


def assert_matches_api_oracle(result, api, index):
    """Compare with the API's own get_more_info(..., hp='200', is_random=False), mapped as documented: to float
    round-off, since the seed means may be summed in another order (Python 3.12's sum() compensates, ours may not)."""
    info = {ds: api.get_more_info(index, ds, hp="200", is_random=False) for ds in ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")}
    acc = result.accuracies

    def same(value):
        return pytest.approx(value, rel=1e-12, abs=1e-12)

    assert acc["cifar10"].valid == same(info["cifar10-valid"]["valid-accuracy"])
    assert acc["cifar10"].test == same(info["cifar10"]["test-accuracy"])
    assert acc["cifar100"].valid == same(info["cifar100"]["valid-accuracy"])
    assert acc["cifar100"].test == same(info["cifar100"]["test-accuracy"])
    assert acc["imagenet16-120"].valid == same(info["ImageNet16-120"]["valid-accuracy"])
    assert acc["imagenet16-120"].test == same(info["ImageNet16-120"]["test-accuracy"])


# ---- official .pth -------------------------------------------------------------------------------------------
def test_official_backend_reads_200_epoch_seed_means_with_the_documented_mapping(official_file):
    bench = load_benchmark(official_file)
    assert isinstance(bench, OfficialBenchmark) and bench.has_test
    assert bench.available_indexes() == sorted(SYNTHETIC)
    for index, (n, datasets) in SYNTHETIC.items():
        result = bench.query(index)
        mean = lambda ds, s: sum(final_accuracy(index, ds, s, k) for k in range(n)) / n  # noqa: E731
        assert result.index == index and result.genotype == canonical_arch_strings()[index]
        assert result.accuracies["cifar10"].valid == pytest.approx(mean("cifar10-valid", "x-valid"))
        assert result.accuracies["cifar10"].test == pytest.approx(mean("cifar10", "ori-test"))
        assert result.accuracies["cifar100"].valid == pytest.approx(mean("cifar100", "x-valid"))
        assert result.accuracies["cifar100"].test == pytest.approx(mean("cifar100", "x-test"))
        if "ImageNet16-120" in datasets:
            assert result.accuracies["imagenet16-120"].valid == pytest.approx(mean("ImageNet16-120", "x-valid"))
            assert result.accuracies["imagenet16-120"].test == pytest.approx(mean("ImageNet16-120", "x-test"))
        else:  # never made up
            assert result.accuracies["imagenet16-120"].valid is None and result.accuracies["imagenet16-120"].test is None


def test_official_backend_agrees_with_nas_201_api_itself(official_file):
    from nas_201_api import NASBench201API

    oracle = NASBench201API(torch.load(official_file, weights_only=False), verbose=False)
    bench = load_benchmark(official_file)
    for index in (6111, 1835):
        assert_matches_api_oracle(bench.query(index), oracle, index)


def test_official_backend_missing_architecture_is_a_benchmark_error(official_file):
    bench = load_benchmark(official_file)
    with pytest.raises(BenchmarkError, match="index 5"):
        bench.query(5)


def test_official_backend_rejects_files_that_are_not_benchmarks(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": {}}, wrong)
    with pytest.raises(BenchmarkError, match="meta_archs"):
        load_benchmark(wrong)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(BenchmarkError, match="cannot read"):
        load_benchmark(garbage)


def test_official_backend_on_real_records_in_the_official_format(nats_fake_dir, tmp_path):
    """The NATS fixture's real 200-epoch records, repackaged in the NB201 .pth format, read through nas_201_api."""
    from nats_bench.api_utils import pickle_load

    records = {}
    for index in NATS_INDEXES:
        record = pickle_load(str(nats_fake_dir / f"{index:06d}.pickle.pbz2"))
        records[index] = {"less": record["12"], "full": record["200"]}
    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    torch.save(official_dict(records), path)
    bench = load_benchmark(path)
    oracle = nats_bench.create(str(nats_fake_dir), "tss", fast_mode=True, verbose=False)
    for index in NATS_INDEXES:
        assert_matches_api_oracle(bench.query(index), oracle, index)


# ---- NATS-Bench ----------------------------------------------------------------------------------------------
def test_nats_backend_equals_nats_bench_get_more_info(nats_fake_dir):
    bench = load_benchmark(nats_fake_dir)
    assert isinstance(bench, NatsBenchmark) and bench.has_test
    assert bench.available_indexes() == list(NATS_INDEXES)
    oracle = nats_bench.create(str(nats_fake_dir), "tss", fast_mode=True, verbose=False)
    for index in NATS_INDEXES:
        assert_matches_api_oracle(bench.query(index), oracle, index)
    assert bench.api.arch2infos_dict == {}  # records are released once read


def test_nats_backend_agrees_with_the_table(nats_fake_dir, nb201_table):
    nats, table = load_benchmark(nats_fake_dir), load_benchmark(nb201_table)
    for index in NATS_INDEXES:
        for dataset in DATASETS:
            for split in ("valid", "test"):
                ours = getattr(nats.query(index).accuracies[dataset], split)
                theirs = getattr(table.query(index).accuracies[dataset], split)
                assert ours == pytest.approx(theirs, abs=1e-4), (index, dataset, split)


def test_nats_backend_missing_architecture_is_a_benchmark_error(nats_fake_dir):
    bench = load_benchmark(nats_fake_dir)
    with pytest.raises(BenchmarkError, match=r"index 12 \(000012.pickle.pbz2 is missing\)"):
        bench.query(12)
    assert bench.query(11).index == 11  # still usable after the error


def test_nats_single_file_format(nats_fake_dir, tmp_path):
    from nats_bench.api_utils import pickle_load, pickle_save

    meta = pickle_load(str(nats_fake_dir / "meta.pickle.pbz2"))
    data = dict(meta, arch2infos={i: pickle_load(str(nats_fake_dir / f"{i:06d}.pickle.pbz2")) for i in NATS_INDEXES})
    data["evaluated_indexes"] = list(NATS_INDEXES)
    pickle_save(data, str(tmp_path / "NATS-tss-v1_0-3ffb9.pickle"))  # appends .pbz2
    bench = load_benchmark(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    assert not bench.fast_mode and bench.available_indexes() == list(NATS_INDEXES)
    fast = load_benchmark(nats_fake_dir)
    for index in NATS_INDEXES:
        assert bench.query(index).to_dict() == fast.query(index).to_dict()
    with pytest.raises(BenchmarkError, match="index 12"):
        bench.query(12)


# ---- export --------------------------------------------------------------------------------------------------
def test_export_script_round_trips_through_the_table_backend(official_file, tmp_path):
    out = tmp_path / "out" / "table.csv"
    script = REPO_ROOT / "scripts" / "export_nb201_table.py"
    done = subprocess.run([sys.executable, str(script), str(official_file), "-o", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(SYNTHETIC)} architectures" in done.stdout
    table, source = load_benchmark(out), load_benchmark(official_file)
    assert isinstance(table, TableBenchmark) and len(table) == len(SYNTHETIC)
    for index in SYNTHETIC:
        assert table.query(index).to_dict() == source.query(index).to_dict()
    with pytest.raises(BenchmarkError):
        table.query(5)
    row = read_rows(out)["1835"]
    assert [float(v) for v in row["cifar10_valid_seeds"].split()] == [final_accuracy(1835, "cifar10-valid", "x-valid", k) for k in range(2)]
    assert [float(v) for v in row["cifar100_valid_seeds"].split()] == [final_accuracy(1835, "cifar100", "x-valid", k) for k in range(2)]
    assert read_rows(out)["7"]["imagenet16_valid_seeds"] == "" and read_rows(out)["7"]["imagenet16_test"] == ""


def test_export_from_nats_matches_the_shared_table(nats_fake_dir, nb201_table, tmp_path):
    out = tmp_path / "nats.csv"
    assert export_table(nats_fake_dir, out, progress=False) == len(NATS_INDEXES)
    exported, shared = load_benchmark(out), load_benchmark(nb201_table)
    for index in NATS_INDEXES:
        for dataset in DATASETS:
            ours, theirs = exported.query(index).accuracies[dataset], shared.query(index).accuracies[dataset]
            assert ours.valid == pytest.approx(theirs.valid, abs=1e-4) and ours.test == pytest.approx(theirs.test, abs=1e-4)
    ours_rows, shared_rows = read_rows(out), read_rows(nb201_table)
    for key in map(str, NATS_INDEXES):
        row = shared_rows[key]
        for column in ("cifar10_valid_seeds", "cifar100_valid_seeds", "imagenet16_valid_seeds"):
            mine = [float(v) for v in ours_rows[key][column].split()]
            assert mine == pytest.approx([float(v) for v in row[column].split()], abs=5e-3)


def test_export_refuses_a_table_source(tmp_path, official_file):
    table = tmp_path / "t.csv"
    export_table(official_file, table, progress=False)
    with pytest.raises(BenchmarkError, match="already a table"):
        export_table(table, tmp_path / "again.csv", progress=False)
    assert not (tmp_path / "again.csv").exists()


def _nats_copy(nats_fake_dir, tmp_path) -> Path:
    import shutil

    copy = tmp_path / nats_fake_dir.name
    shutil.copytree(nats_fake_dir, copy)
    return copy


def test_nats_corrupt_record_names_the_file_and_the_search_goes_on(nats_fake_dir, tmp_path, caplog):
    from darts_tse.nb201 import RecordUnreadable
    from darts_tse.search.tasks import nb201_lookup
    from darts_tse.space import Genotype

    copy = _nats_copy(nats_fake_dir, tmp_path)
    record = copy / "000011.pickle.pbz2"
    record.write_bytes(record.read_bytes()[:200])  # truncated bz2
    bench = load_benchmark(copy)
    with pytest.raises(RecordUnreadable, match=r"index 11 from .*000011\.pickle\.pbz2 .*fix: re-extract"):
        bench.query(11)
    assert bench.query(284).index == 284  # the other records still read
    genotype = Genotype.from_index(11)
    assert nb201_lookup(bench, genotype) == (11, None)  # a search epoch records nb201: null and warns
    assert "000011.pickle.pbz2" in caplog.text


def test_nats_meta_file_that_is_not_a_pickle_is_a_benchmark_error(nats_fake_dir, tmp_path):
    import bz2

    copy = _nats_copy(nats_fake_dir, tmp_path)
    (copy / "meta.pickle.pbz2").write_bytes(bz2.compress(b"not a pickle at all"))
    with pytest.raises(BenchmarkError, match="cannot read .*fix: re-extract or re-download"):
        load_benchmark(copy)
