"""Shared test fixtures: the NB201 data beside the checkout (../shared/nb201), and tiny configurations."""
import importlib.util
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_NB201 = REPO_ROOT.parent / "shared" / "nb201"
NB201_TABLE = SHARED_NB201 / "nb201_accuracy.csv"
NATS_FAKE_DIR = SHARED_NB201 / "nats-fake" / "NATS-tss-v1_0-3ffb9-simple"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_script(name: str):
    """scripts/<name>.py as a module (to call its main() in-process)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kill_in_second_epoch(command: list[str], out: str | Path, *, timeout: float = 300) -> None:
    """Run `command` from the checkout and SIGKILL it a quarter of its first epoch's duration into its second epoch
    (whatever the machine's speed); assert that it was killed, not finished."""
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = Path(out) / "metrics.jsonl"
    deadline = time.monotonic() + timeout
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)
    time.sleep(0.25 * json.loads(metrics.read_text().splitlines()[0])["seconds"])
    process.kill()
    process.communicate()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def nb201_table() -> Path:
    """Path of the real 15,625-row NB201 table; skips when ../shared is absent."""
    if not NB201_TABLE.is_file():
        pytest.skip(f"NB201 table not found at {NB201_TABLE} (../shared/nb201 is provided beside the checkout in CI)")
    return NB201_TABLE


@pytest.fixture
def nats_fake_dir() -> Path:
    """Path of the NATS-Bench fixture directory; skips when ../shared is absent."""
    if not NATS_FAKE_DIR.is_dir():
        pytest.skip(f"NATS-Bench fixture not found at {NATS_FAKE_DIR} (../shared/nb201 is provided beside the checkout in CI)")
    return NATS_FAKE_DIR


@pytest.fixture(scope="session")
def synthetic_nats_dir(tmp_path_factory) -> Path:
    """A NATS-Bench directory in the real format with the 243 synthetic cells of tests/nats_synthetic.py (CIFAR-10
    records only), derived from the shared fixture's real records; skips when ../shared is absent."""
    if not NATS_FAKE_DIR.is_dir():
        pytest.skip(f"NATS-Bench fixture not found at {NATS_FAKE_DIR} (../shared/nb201 is provided beside the checkout in CI)")
    from nats_synthetic import write_synthetic_nats

    return write_synthetic_nats(NATS_FAKE_DIR, tmp_path_factory.mktemp("synthetic") / "NATS-tss-v1_0-3ffb9-simple")


@pytest.fixture(scope="session")
def synthetic_store(synthetic_nats_dir, tmp_path_factory) -> Path:
    """The curve store of ``synthetic_nats_dir``: CIFAR-10, the first 12 epochs of each curve, mean over seeds."""
    from darts_tse.nb201 import export_curves

    output = tmp_path_factory.mktemp("synthetic-store") / "curves.npz"
    export_curves(synthetic_nats_dir, output, datasets=["cifar10"], epochs=12, progress=False)
    return output


@pytest.fixture
def fashion_mnist_dir() -> Path:
    """Directory of the Debian package dataset-fashion-mnist; skips when it is not installed."""
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return FASHION_MNIST_DIR


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


def interrupt_at_epoch(monkeypatch, epoch: int) -> None:
    """Make the search raise KeyboardInterrupt (as Ctrl-C) when it starts training `epoch` (0-based)."""
    import darts_tse.search.loop

    real_run_epoch = darts_tse.search.loop.run_epoch

    def run_epoch(config, parts, benchmark, tse_ema, current):
        if current == epoch:
            raise KeyboardInterrupt
        return real_run_epoch(config, parts, benchmark, tse_ema, current)

    monkeypatch.setattr(darts_tse.search.loop, "run_epoch", run_epoch)
