"""The house rules, checked: the rooms' import layers (import-linter), lint (ruff), torch-free readers, the packaging."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _tool(name: str) -> list[str]:
    """The command of a dev tool installed by ``pip install -e ".[test]"`` (a failure, not a skip, when missing)."""
    executable = Path(sys.executable).parent / name
    if not executable.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}; run: pip install -e '.[test]'")
    return [str(executable)]


def test_rooms_import_only_rooms_below_them():
    result = subprocess.run(_tool("lint-imports"), cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_room_is_placed_in_the_layers():
    """A new package or module under darts_tse/ must be given its layer (the contract is exhaustive, but only for
    what it can see: this makes the rule explicit)."""
    contract = next(c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c["id"] == "rooms")
    placed = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    rooms = {path.stem if path.is_file() else path.name for path in (REPO_ROOT / "darts_tse").iterdir()
             if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()}
    assert rooms == placed


def test_ruff_finds_nothing():
    result = subprocess.run([*_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_run_readers_load_no_torch(tmp_path):
    """The analysis room and the genotype parse/format work without torch at run time, not just in the import graph
    (package __init__s run on import and are invisible to import-linter)."""
    run = tmp_path / "run"
    run.mkdir()
    row = '{"epoch": 0, "genotype": "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "nb201": null}'
    (run / "metrics.jsonl").write_text(row + "\n")
    (run / "genotypes.jsonl").write_text(row + "\n")
    code = ("import sys, darts_tse.analysis as a; a.load_run(sys.argv[1]); a.genotype_entry(sys.argv[1]);"
            "from darts_tse.space import Genotype; Genotype.parse(a.genotype_entry(sys.argv[1])['genotype']).index;"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(run)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_requirements_txt_lists_the_package_dependencies():
    def names(lines):
        return sorted(line.split("#")[0].strip().replace("_", "-").lower() for line in lines
                      if line.split("#")[0].strip())
    requirements = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert names(requirements) == names(PYPROJECT["project"]["dependencies"])


def test_every_script_wraps_a_console_command():
    """scripts/<name>.py runs darts_tse.cli.<name>:main, which pyproject.toml installs as darts-tse-<name>."""
    commands = PYPROJECT["project"]["scripts"]
    targets = set(commands.values())
    for script in sorted((REPO_ROOT / "scripts").glob("*.py")):
        if script.stem == "build_nb201_order":  # a maintainer's tool that rewrites a package data file
            continue
        assert f"from darts_tse.cli.{script.stem} import main" in script.read_text(), script
        assert f"darts_tse.cli.{script.stem}:main" in targets, f"no console command runs {script.stem}"
    assert commands["darts-tse-search"] == "darts_tse.cli.search:main"
