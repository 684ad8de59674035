"""The data of a training run as ``scripts/train_genotype.py --dataset NAME --data-dir DIR`` reads it: for CIFAR-10/100
(tiny copies in torchvision's python-version layout, every file md5-verified before it is unpickled) and Fashion-MNIST
(the Debian package's files) the whole official training set trains and the official test set is reported; datasets
without a test split are one ``error:`` line before anything starts."""
from __future__ import annotations

import hashlib
import json
import urllib.error

import numpy as np
import pytest
import torch

from conftest import FASHION_MNIST_DIR, load_script
from darts_tse.config import config_from_dict
from darts_tse.data import DataError, ImageSplit, iterate_eval, load_train_test_data, read_idx
from darts_tse.search import CHECKPOINT, build_components, evaluate, load_search_checkpoint
from pickle_files import write_py2_pickle

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY_RUN = ["--epochs", "1", "--steps-per-epoch", "1", "--C", "4", "--N", "1", "--batch-size", "8", "--threads", "1",
            "--wandb", "disabled", "--no-progress"]
# NB201's normalisation constants (AutoDL get_datasets): the published per-channel statistics of the training sets
PUBLISHED = {"cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
             "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))}
TRAIN_IMAGES, TEST_IMAGES = 10, 4


# ---- tiny CIFAR in the official layout ---------------------------------------------------------------------------
def _cifar_class(name: str):
    import torchvision

    return torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100


def _write_cifar(root, name: str, seed: int = 0) -> dict[str, ImageSplit]:
    """CIFAR-`name`'s python-version files under root/<base folder>/ with 10 training images (CIFAR-10: 2 in each of
    data_batch_1..5) and 4 test images, labels distinct within each split; returns the splits as (N, 3, 32, 32)."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    rows = {"train": rng.integers(0, 256, (TRAIN_IMAGES, 3072), dtype=np.uint8),
            "test": rng.integers(0, 256, (TEST_IMAGES, 3072), dtype=np.uint8)}
    labels = {"train": rng.permutation(classes)[:TRAIN_IMAGES].tolist(),
              "test": rng.permutation(classes)[:TEST_IMAGES].tolist()}
    folder = root / _cifar_class(name).base_folder
    folder.mkdir(parents=True)
    if name == "cifar10":
        per = TRAIN_IMAGES // 5
        for i in range(5):
            part = slice(i * per, (i + 1) * per)
            write_py2_pickle(folder / f"data_batch_{i + 1}", {
                "batch_label": f"training batch {i + 1} of 5", "labels": labels["train"][part],
                "data": rows["train"][part], "filenames": [f"train{j}.png" for j in range(per)]})
        write_py2_pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": labels["test"],
                                                 "data": rows["test"], "filenames": ["test.png"] * TEST_IMAGES})
        write_py2_pickle(folder / "batches.meta", {"label_names": [f"class{k}" for k in range(10)],
                                                   "num_cases_per_batch": per, "num_vis": 3072})
    else:
        for split in ("train", "test"):
            write_py2_pickle(folder / split, {
                "filenames": [f"{split}.png"] * len(labels[split]), "batch_label": f"{split}ing batch 1 of 1",
                "fine_labels": labels[split], "coarse_labels": [k // 5 for k in labels[split]], "data": rows[split]})
        write_py2_pickle(folder / "meta", {"fine_label_names": [f"fine{k}" for k in range(100)],
                                           "coarse_label_names": [f"coarse{k}" for k in range(20)]})
    return {split: ImageSplit(torch.from_numpy(rows[split].reshape(-1, 3, 32, 32)), torch.tensor(labels[split]))
            for split in rows}


@pytest.fixture
def md5s_of(monkeypatch):
    """Make torchvision's CIFAR class expect the md5s of the tiny files (it still verifies every file before it
    unpickles one), and fail any download: the tests never reach the network."""
    import torchvision.datasets.cifar as tv_cifar

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"tests do not download {url}")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)

    def register(root, name: str) -> None:
        cls = _cifar_class(name)
        folder = root / cls.base_folder

        def md5(file):
            return hashlib.md5((folder / file).read_bytes()).hexdigest()

        monkeypatch.setattr(cls, "train_list", [[file, md5(file)] for file, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[file, md5(file)] for file, _ in cls.test_list])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(cls.meta["filename"])})

    return register


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_trains_on_every_training_batch_and_reports_the_test_batch(tmp_path, md5s_of, name):
    written = _write_cifar(tmp_path, name)
    md5s_of(tmp_path, name)
    for data_dir in (tmp_path, tmp_path / _cifar_class(name).base_folder):  # DIR or DIR/<base folder> itself
        data = load_train_test_data(name, data_dir)
        classes = 10 if name == "cifar10" else 100
        assert (len(data.train), len(data.test), data.num_classes) == (TRAIN_IMAGES, TEST_IMAGES, classes)
        assert torch.equal(data.train.images, written["train"].images)  # data_batch_1..5 in order, all of them
        assert torch.equal(data.train.labels, written["train"].labels)
        assert torch.equal(data.test.images, written["test"].images)  # test_batch / test, and nothing else
        assert torch.equal(data.test.labels, written["test"].labels)
    mean, std = PUBLISHED[name]  # the published training-set constants, whatever the test images hold
    assert data.mean == pytest.approx([m / 255 for m in mean]) and data.std == pytest.approx([s / 255 for s in std])
    record = data.record()
    assert (record["train_images"], record["test_images"], record["normalisation"]["from"]) == (
        TRAIN_IMAGES, TEST_IMAGES, "fixed")
    test_file = "test_batch" if name == "cifar10" else "test"
    assert test_file in record["files_sha256"] and _cifar_class(name).meta["filename"] in record["files_sha256"]
    capped = load_train_test_data(name, tmp_path, max_train_samples=3)  # a smoke cap trims training images only
    assert torch.equal(capped.train.images, written["train"].images[:3]) and len(capped.test) == TEST_IMAGES


def test_a_tampered_cifar_test_batch_is_refused_before_it_is_unpickled(tmp_path, md5s_of):
    _write_cifar(tmp_path, "cifar10")
    md5s_of(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not the test batch whose md5 was recorded")
    with pytest.raises(DataError, match="corrupted") as error:
        load_train_test_data("cifar10", tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_a_cifar_training_run_reports_test_accuracy_on_the_test_images(tmp_path, md5s_of, name):
    written = _write_cifar(tmp_path / "data", name)
    md5s_of(tmp_path / "data", name)
    out = tmp_path / "run"
    train = load_script("train_genotype")
    assert train.main([CELL, "--dataset", name, "--data-dir", str(tmp_path / "data"), *TINY_RUN,
                       "--out", str(out)]) == 0
    recorded = json.loads((out / "config.json").read_text())["data"]
    assert (recorded["dataset"], recorded["train_images"], recorded["test_images"]) == (name, TRAIN_IMAGES,
                                                                                         TEST_IMAGES)
    [row] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the trained network (the checkpoint after epoch 0) on the written test images gives the recorded numbers
    state = load_search_checkpoint(out / CHECKPOINT)
    parts = build_components(config_from_dict(state["config"]), torch.device("cpu"))
    parts.model.load_state_dict(state["model"])

    def measured(split: ImageSplit) -> dict:
        return evaluate(parts.model, iterate_eval(split, 8, parts.data.mean, parts.data.std))

    on_test = measured(written["test"])
    assert row["test_loss"] == pytest.approx(on_test["valid_loss"], rel=1e-5)
    assert row["test_acc"] == pytest.approx(on_test["valid_acc"])
    assert row["test_acc"] * TEST_IMAGES / 100 == pytest.approx(round(row["test_acc"] * TEST_IMAGES / 100))
    assert measured(written["train"])["valid_loss"] != pytest.approx(row["test_loss"], rel=1e-5)  # it can tell


def test_a_cifar_training_run_resumes_only_on_the_test_batch_it_read(tmp_path, md5s_of, capsys):
    data = tmp_path / "data"
    _write_cifar(data, "cifar10")
    md5s_of(data, "cifar10")
    out = tmp_path / "run"
    train = load_script("train_genotype")
    assert train.main([CELL, "--dataset", "cifar10", "--data-dir", str(data), *TINY_RUN, "--lr-min", "0.001",
                       "--out", str(out)]) == 0  # lr_min > 0: a finished run at lr 0 is not extended
    resume = ["--resume", "--out", str(out), "--epochs", "2", "--wandb", "disabled", "--no-progress"]
    capsys.readouterr()
    assert train.main(resume) == 2  # the recorded folder holds pickles: the user names it (docs/tracking.md)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and f"--data-dir {data}" in err[0]
    test_batch = data / "cifar-10-batches-py" / "test_batch"
    original = test_batch.read_bytes()
    _write_cifar(tmp_path / "other", "cifar10", seed=1)  # another valid test batch
    test_batch.write_bytes((tmp_path / "other" / "cifar-10-batches-py" / "test_batch").read_bytes())
    md5s_of(data, "cifar10")  # torchvision would unpickle it now; the run's record of its files does not
    assert train.main([*resume, "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "test_batch differ" in err[0] and "were not unpickled" in err[0]
    test_batch.write_bytes(original)
    md5s_of(data, "cifar10")
    assert train.main([*resume, "--data-dir", str(data)]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


# ---- Fashion-MNIST from the Debian package ------------------------------------------------------------------------
@pytest.fixture
def fashion_mnist_with_test() -> None:
    """Skips unless the Debian package dataset-fashion-mnist (training and t10k files) is installed."""
    needed = [FASHION_MNIST_DIR / f"{part}-{kind}-idx{dims}-ubyte.gz" for part in ("train", "t10k")
              for kind, dims in (("images", 3), ("labels", 1))]
    if not all(path.is_file() for path in needed):
        pytest.skip(f"Fashion-MNIST not installed in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)")


def _padded(images: np.ndarray) -> torch.Tensor:
    """28×28 idx images as the loader gives them: zero-padded by 2 to 32×32, three equal channels."""
    x = torch.nn.functional.pad(torch.from_numpy(images.copy()).unsqueeze(1), (2, 2, 2, 2))
    return x.expand(-1, 3, -1, -1)


def test_fashion_mnist_reports_the_10000_official_test_images(fashion_mnist_with_test):
    test_images = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz", kind="images")
    test_labels = read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz", kind="labels")
    train_images = read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz", kind="images")
    train_labels = read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz", kind="labels")
    data = load_train_test_data("fashion-mnist", None, max_train_samples=16)
    assert len(data.test) == 10_000 and data.record()["test_images"] == 10_000
    assert torch.equal(data.test.images, _padded(test_images))
    assert torch.equal(data.test.labels, torch.from_numpy(test_labels.astype(np.int64)))
    assert torch.equal(data.train.images, _padded(train_images[:16]))  # the official training set, in order
    assert torch.equal(data.train.labels, torch.from_numpy(train_labels[:16].astype(np.int64)))
    # the fixed constants are the statistics of the 60,000 training images (padded), not of the test images
    def statistics(images: np.ndarray) -> tuple[float, float]:
        pixels = torch.from_numpy(images.copy()).to(torch.int64)
        count = images.shape[0] * 32 * 32  # the padding's zeros count
        mean = pixels.sum().item() / count / 255
        return mean, (pixels.pow(2).sum().item() / count / 255 ** 2 - mean ** 2) ** 0.5

    assert data.mean[0] == pytest.approx(statistics(train_images)[0], abs=6e-5)
    assert data.std[0] == pytest.approx(statistics(train_images)[1], abs=6e-5)
    assert data.mean[0] != pytest.approx(statistics(test_images)[0], abs=6e-5)


@pytest.mark.slow
def test_a_fashion_mnist_training_run_evaluates_all_10000_test_images(tmp_path, fashion_mnist_with_test):
    out = tmp_path / "run"
    argv = [CELL, "--dataset", "fashion-mnist", "--max-train-samples", "16", *TINY_RUN, "--out", str(out)]
    argv[argv.index("--batch-size") + 1] = "500"  # 20 evaluation batches of the test set
    assert load_script("train_genotype").main(argv) == 0
    recorded = json.loads((out / "config.json").read_text())["data"]
    assert (recorded["train_images"], recorded["test_images"]) == (16, 10_000)
    [row] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    correct = row["test_acc"] * 10_000 / 100  # a count of the 10,000 images (--steps-per-epoch caps training only)
    assert correct == pytest.approx(round(correct), abs=1e-6) and 0 <= correct <= 10_000


# ---- no test split: one line before anything starts ---------------------------------------------------------------
def _train_only_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "train_only.npz"
    np.savez(path, x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8), y_train=np.arange(20) % 2)
    return ["--dataset", "npz", "--data-dir", str(path)], "x_test and y_test"


def _folder_without_test(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "images" / "train" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / "images" / "train" / name / f"{i}.png")
    return ["--dataset", "folder", "--data-dir", str(tmp_path / "images"), "--image-size", "8"], "DIR/test/<class>"


def _imagenet16(tmp_path):
    return ["--dataset", "imagenet16-120", "--data-dir", str(tmp_path)], "reads none for imagenet16-120"


@pytest.mark.parametrize("layout", [_train_only_npz, _folder_without_test, _imagenet16])
def test_data_without_a_test_split_is_one_line_before_anything_starts(tmp_path, capsys, layout):
    flags, message = layout(tmp_path)
    out = tmp_path / "run"
    assert load_script("train_genotype").main([CELL, *flags, *TINY_RUN, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "test" in err[0] and message in err[0], err
    assert not out.exists()  # no run directory was made
