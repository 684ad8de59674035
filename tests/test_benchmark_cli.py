"""``python -m darts_tse.nb201``: JSON out, one-line errors."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from darts_tse.nb201.__main__ import main
from darts_tse.nb201.table import TABLE_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[1]
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "darts_tse.nb201", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_cli_index_prints_json_offline():
    done = run_cli("6111")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["index"] == 6111 and out["genotype"] == BEST_C10
    assert out["cifar10"]["valid"] == pytest.approx(91.6067, abs=1e-3) and out["cifar10"]["test"] is None
    assert "--benchmark PATH" in done.stderr  # the one offline warning
    assert "Traceback" not in done.stderr


def test_cli_string_with_table_prints_json(nb201_table, capsys):
    assert main(["--benchmark", str(nb201_table), BEST_C10]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["index"] == 6111
    assert out["cifar10"]["test"] == pytest.approx(94.3733, abs=1e-4)
    assert set(out) == {"index", "genotype", "cifar10", "cifar100", "imagenet16-120"}


def test_cli_malformed_string_is_one_line_naming_the_bad_part():
    done = run_cli(BEST_C10.replace("nor_conv_1x1~2", "conv_7x7~2"))
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "conv_7x7" in lines[0]


@pytest.mark.parametrize("arch, bad", [("|none~0|+|none~0|none~1|", "3 node groups"), ("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|", "none~3")])
def test_cli_other_malformed_strings(capsys, arch, bad):
    assert main([arch]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and bad in err[0]


def test_cli_missing_file_is_one_line(tmp_path, capsys):
    assert main(["--benchmark", str(tmp_path / "missing.csv"), "0"]) != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "missing.csv" in lines[0] and "does not exist" in lines[0]


def test_cli_table_with_wrong_columns_is_one_line(tmp_path):
    path = tmp_path / "wrong.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerow([c for c in TABLE_COLUMNS if c != "cifar10_test"])
    done = run_cli("--benchmark", str(path), "0")
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1
    assert lines[0].startswith("error: ") and "cifar10_test" in lines[0] and "Traceback" not in done.stderr


def test_cli_missing_nats_record_is_one_line(nats_fake_dir, capsys):
    assert main(["--benchmark", str(nats_fake_dir), "12"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "index 12" in lines[0]
