"""NB201 benchmark layer: result types, the table backend, the offline default, and load_benchmark's dispatch."""
import csv
import json
import logging
import math

import numpy as np
import pytest

from darts_tse.nb201 import DATASETS, BenchmarkError, BenchmarkResult, SplitAccuracy, load_benchmark
from darts_tse.nb201.base import canonical_arch_strings
from darts_tse.nb201.offline import OfflineBenchmark, offline_warning, warn_offline_once
from darts_tse.nb201.table import REQUIRED_COLUMNS, TABLE_COLUMNS, TableBenchmark
from darts_tse.space import Genotype, GenotypeError

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16"}


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def synthetic_row(index, test=True):
    """A row whose numbers encode (index, column) so a mix-up of rows or columns shows."""
    arch = canonical_arch_strings()[index]
    cells = []
    for k, _ in enumerate(REQUIRED_COLUMNS[2:]):
        is_test = k % 2 == 1
        cells.append("" if (is_test and not test) else f"{10 + k + index / 100000:.5f}")
    return [str(index), arch, *cells, "1.0 2.0", "", ""]


# ---- result types --------------------------------------------------------------------------------------------
def test_result_to_dict_has_every_dataset_and_is_json():
    accuracies = {d: SplitAccuracy(valid=float(i), test=None if i == 2 else float(i) + 0.5) for i, d in enumerate(DATASETS)}
    result = BenchmarkResult(index=6111, genotype=BEST_C10, accuracies=accuracies)
    out = result.to_dict()
    assert out == {
        "index": 6111,
        "genotype": BEST_C10,
        "cifar10": {"valid": 0.0, "test": 0.5},
        "cifar100": {"valid": 1.0, "test": 1.5},
        "imagenet16-120": {"valid": 2.0, "test": None},
    }
    assert json.loads(json.dumps(out)) == out


# ---- table backend on a synthetic table (always runs) --------------------------------------------------------
def test_table_reads_columns_into_the_right_dataset_and_split(tmp_path):
    path = write_csv(tmp_path / "t.csv", TABLE_COLUMNS, [synthetic_row(i) for i in (7, 6111, 3)])
    table = load_benchmark(path)
    assert isinstance(table, TableBenchmark) and table.has_test and len(table) == 3
    result = table.query(6111)
    for k, dataset in enumerate(DATASETS):
        assert result.accuracies[dataset].valid == pytest.approx(10 + 2 * k + 0.06111)
        assert result.accuracies[dataset].test == pytest.approx(11 + 2 * k + 0.06111)
    assert result.genotype == BEST_C10 and result.index == 6111


def test_table_row_missing_from_a_partial_table_is_a_benchmark_error(tmp_path):
    table = load_benchmark(write_csv(tmp_path / "t.csv", TABLE_COLUMNS, [synthetic_row(5)]))
    with pytest.raises(BenchmarkError, match="no row for NB201 index 6"):
        table.query(6)


def test_table_without_seed_columns_and_empty_test_cells(tmp_path):
    rows = [synthetic_row(i, test=False)[: len(REQUIRED_COLUMNS)] for i in range(4)]
    table = load_benchmark(write_csv(tmp_path / "t.csv", REQUIRED_COLUMNS, rows))
    assert not table.has_test
    result = table.query(2)
    assert all(result.accuracies[d].test is None for d in DATASETS)
    assert all(result.accuracies[d].valid is not None for d in DATASETS)


def test_table_with_missing_columns_names_them(tmp_path):
    header = [c for c in TABLE_COLUMNS if c not in ("cifar100_test", "imagenet16_valid")]
    path = write_csv(tmp_path / "bad.csv", header, [])
    with pytest.raises(BenchmarkError) as info:
        load_benchmark(path)
    message = str(info.value)
    assert "cifar100_test" in message and "imagenet16_valid" in message and "export_nb201_table" in message


def test_table_whose_arch_disagrees_with_its_index_is_rejected(tmp_path):
    row = synthetic_row(10)
    row[1] = canonical_arch_strings()[11]
    with pytest.raises(BenchmarkError, match="index 10"):
        load_benchmark(write_csv(tmp_path / "t.csv", TABLE_COLUMNS, [row]))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda rows: rows + [rows[0]], "more than once"),
        (lambda rows: [[r[0], r[1], "abc", *r[3:]] for r in rows], "cifar10_valid"),
        (lambda rows: [["x", *r[1:]] for r in rows], "non-integer index"),
    ],
)
def test_table_with_bad_cells_is_rejected(tmp_path, mutate, match):
    rows = mutate([synthetic_row(1), synthetic_row(2)])
    with pytest.raises(BenchmarkError, match=match):
        load_benchmark(write_csv(tmp_path / "t.csv", TABLE_COLUMNS, rows))


def test_empty_table_file_is_rejected(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(BenchmarkError, match="empty"):
        load_benchmark(path)


# ---- table backend on the real table -------------------------------------------------------------------------
def test_real_table_known_values(nb201_table):
    table = load_benchmark(nb201_table)
    assert table.has_test and len(table) == 15625 and "nb201_accuracy.csv" in table.source
    skip = table.query(ALL_SKIP)
    assert skip.accuracies["cifar10"].test == pytest.approx(54.2967, abs=1e-4)
    assert skip.accuracies["cifar100"].test == pytest.approx(15.6067, abs=1e-4)
    assert skip.accuracies["imagenet16-120"].test == pytest.approx(16.3222, abs=1e-4)
    best = table.query(6111)
    assert best.genotype == BEST_C10
    assert best.accuracies["cifar10"].test == pytest.approx(94.3733, abs=1e-4)
    assert best.accuracies["cifar10"].valid == pytest.approx(91.6067, abs=1e-4)
    assert best.accuracies["cifar10"].valid != best.accuracies["cifar10"].test
    assert table.query(Genotype.parse(ALL_NONE)).accuracies["cifar10"].test == pytest.approx(10.0, abs=1e-4)


def test_real_table_index_and_string_agree_for_every_row(nb201_table):
    table = load_benchmark(nb201_table)
    with open(nb201_table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15625
    for row in rows:
        by_index = table.query(int(row["index"]))
        assert by_index.genotype == row["arch"]
        assert table.query(row["arch"]) is by_index  # same cache entry: the string resolves to the same index
        assert by_index.accuracies["cifar100"].test == pytest.approx(float(row["cifar100_test"]))
        assert by_index.accuracies["imagenet16-120"].valid == pytest.approx(float(row["imagenet16_valid"]))


def test_query_rejects_bad_architectures(nb201_table):
    table = load_benchmark(nb201_table)
    with pytest.raises(GenotypeError, match="conv_5x5"):
        table.query(ALL_SKIP.replace("skip_connect~1|+", "conv_5x5~1|+"))
    with pytest.raises(GenotypeError, match="15625"):
        table.query(15625)
    with pytest.raises(TypeError):
        table.query(3.0)


# ---- offline default -----------------------------------------------------------------------------------------
def test_offline_default_best_cifar10_valid_and_no_test():
    bench = load_benchmark(None)
    assert isinstance(bench, OfflineBenchmark) and not bench.has_test and "valid only" in bench.source
    results = [bench.query(i) for i in range(15625)]
    valid = np.array([r.accuracies["cifar10"].valid for r in results])
    assert int(valid.argmax()) == 6111
    assert valid.max() == pytest.approx(91.6067, abs=1e-3)
    assert all(r.accuracies[d].test is None for r in results for d in DATASETS)
    assert results[6111].genotype == BEST_C10


def test_offline_default_agrees_with_table_valid_columns(nb201_table):
    bench = load_benchmark(None)
    with open(nb201_table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        result = bench.query(row["arch"])
        assert result.index == int(row["index"])
        for dataset in DATASETS:
            expected = float(row[f"{PREFIX[dataset]}_valid"])
            assert abs(result.accuracies[dataset].valid - expected) < 1e-3, (row["index"], dataset)
            seeds = [float(v) for v in row[f"{PREFIX[dataset]}_valid_seeds"].split()]
            assert abs(np.mean(seeds) - result.accuracies[dataset].valid) < 6e-3  # seeds are printed with 2 decimals


def test_offline_warning_is_logged_once_and_says_how_to_get_test_numbers(caplog):
    warn_offline_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="darts_tse.nb201.offline"):
        load_benchmark(None)
        load_benchmark(None)
    messages = [r.getMessage() for r in caplog.records if r.name == "darts_tse.nb201.offline"]
    assert messages == [offline_warning()]
    assert "--benchmark PATH" in messages[0] and "scripts/export_nb201_table.py" in messages[0]


# ---- dispatch and cache --------------------------------------------------------------------------------------
def test_missing_path_and_unknown_format_are_benchmark_errors(tmp_path):
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_benchmark(tmp_path / "nope.csv")
    (tmp_path / "weird.json").write_text("{}")
    with pytest.raises(BenchmarkError, match="unknown benchmark format"):
        load_benchmark(tmp_path / "weird.json")
    with pytest.raises(BenchmarkError, match="meta.pickle.pbz2"):
        load_benchmark(tmp_path)  # a directory without NATS-Bench's meta file


def test_query_caches_by_index(tmp_path):
    table = load_benchmark(write_csv(tmp_path / "t.csv", TABLE_COLUMNS, [synthetic_row(42)]))
    calls = []
    original = table._lookup
    table._lookup = lambda index, genotype: calls.append(index) or original(index, genotype)
    first = table.query(42)
    assert table.query(Genotype.from_index(42)) is first
    assert table.query(canonical_arch_strings()[42]) is first
    assert table.query(np.int64(42)) is first
    assert calls == [42]
    assert math.isclose(first.accuracies["cifar10"].valid, 10.00042)
