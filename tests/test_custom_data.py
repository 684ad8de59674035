"""Your own data: --dataset npz (real CIFAR-10 images from ../shared/cifar10-subset) and --dataset folder."""
import json

import numpy as np
import pytest
import torch

from darts_tse.analysis import group_runs, load_run
from darts_tse.config import ConfigError, SearchConfig
from darts_tse.data import DataError, load_search_data
from darts_tse.data.custom import resize_and_crop
from darts_tse.search import run_search

from conftest import REPO_ROOT, interrupt_at_epoch

CIFAR_SUBSET = REPO_ROOT.parent / "shared" / "cifar10-subset" / "cifar10_subset.npz"
TINY = dict(C=4, N=1, batch_size=16, epochs=1, steps_per_epoch=2, wandb="disabled", progress=False)


@pytest.fixture
def cifar_subset():
    if not CIFAR_SUBSET.is_file():
        pytest.skip(f"the CIFAR-10 subset is not at {CIFAR_SUBSET} (../shared is provided beside the checkout in CI)")
    return CIFAR_SUBSET


def _shuffled_npz(path, n=40, size=8, classes=4, seed=0, **extra):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    y = np.arange(n) % classes
    np.savez(path, x_train=x, y_train=y, **extra)
    return x, y


def test_npz_of_real_cifar10_images_is_split_in_halves_and_recorded(cifar_subset):
    with np.load(cifar_subset) as arrays:
        x, y = arrays["x_train"], arrays["y_train"]
    data = load_search_data("npz", cifar_subset)
    assert (len(data.train), len(data.valid)) == (2585, 2585) and data.num_classes == 10 and data.image_size == 32
    assert torch.equal(data.train.images, torch.from_numpy(x[:2585])) and torch.equal(data.valid.labels,
                                                                                      torch.from_numpy(y[2585:]))
    pixels = x[:2585].astype(np.float64) / 255  # normalisation comes from search-train only
    np.testing.assert_allclose(data.mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(data.std, pixels.std(axis=(0, 2, 3)), rtol=1e-9)
    record = data.record()
    assert record["source"] == str(cifar_subset.resolve()) and record["test_images"] == 1017
    assert (record["train_images"], record["valid_images"], record["num_classes"]) == (2585, 2585, 10)
    assert record["normalisation"]["from"] == "search-train" and len(record["sha256"]) == 64
    capped = load_search_data("npz", cifar_subset, max_train_samples=100).record()
    assert capped["train_images"] == 100 and capped["sha256"] != record["sha256"]  # a subset never passes as the whole


def test_npz_layouts_and_grey_images_give_the_same_rgb_tensors(tmp_path):
    x, y = _shuffled_npz(tmp_path / "nchw.npz")
    np.savez(tmp_path / "nhwc.npz", x_train=x.transpose(0, 2, 3, 1), y_train=y)
    a, b = load_search_data("npz", tmp_path / "nchw.npz"), load_search_data("npz", tmp_path / "nhwc.npz")
    assert torch.equal(a.train.images, b.train.images) and a.fingerprint == b.fingerprint
    np.savez(tmp_path / "grey.npz", x_train=x[:, :1], y_train=y)
    grey = load_search_data("npz", tmp_path / "grey.npz")
    assert grey.train.images.shape[1] == 3 and torch.equal(grey.train.images[:, 0], grey.train.images[:, 2])
    assert load_search_data("npz", tmp_path / "nchw.npz", image_size=4).image_size == 4


@pytest.mark.parametrize("arrays, fragment", [
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8)}, "lacks the array(s) y_train"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.float32), "y_train": np.array([0, 1, 0, 1])}, "save the images as uint8"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": np.array([0, 1, 0, 1])}, "expected N×C×H×W"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 1, 0])}, "but 3 labels"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, -1, 0, 1])}, "negative label"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 0, 0, 0])}, "at least 2 classes"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 2, 0, 2])}, "none of class(es) 1"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 0, 1, 1])}, "no image in search-train"),
    ({"x_train": np.zeros((4, 3, 8, 6), np.uint8), "y_train": np.array([0, 1, 0, 1])}, "pass --image-size"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 1, 0, 1]),
      "x_test": np.zeros((2, 3, 8, 8), np.uint8)}, "only one of x_test and y_test"),
    ({"x_train": np.zeros((4, 3, 8, 8), np.uint8), "y_train": np.array([0, 1, 0, 1]),
      "x_test": np.zeros((2, 3, 8, 8), np.uint8), "y_test": np.array([0, 5])}, "y_test"),
])
def test_bad_npz_arrays_get_one_line(tmp_path, arrays, fragment):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as error:
        load_search_data("npz", tmp_path / "bad.npz")
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_file_that_is_no_npz_gets_one_line(tmp_path):
    (tmp_path / "notes.npz").write_text("not an archive")
    with pytest.raises(DataError, match="cannot read .* as a .npz file"):
        load_search_data("npz", tmp_path / "notes.npz")
    with pytest.raises(DataError, match="is not a file"):
        load_search_data("npz", tmp_path / "missing.npz")


def _write_folder(root, sizes):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, (mode, shape, count) in sizes.items():
        (root / cls).mkdir(parents=True)
        for k in range(count):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(root / cls / f"{k}.png")


def test_image_folder_of_any_size_and_mode_becomes_rgb_at_image_size(tmp_path):
    _write_folder(tmp_path / "ds", {"cat": ("L", (20, 30), 3), "dog": ("RGB", (12, 12, 3), 3),
                                    "owl": ("RGBA", (40, 16, 4), 4)})
    data = load_search_data("folder", tmp_path / "ds", image_size=8)
    assert data.classes == ("cat", "dog", "owl") and data.num_classes == 3 and data.image_size == 8
    assert data.train.images.shape == (5, 3, 8, 8) and len(data.valid) == 5
    assert set(data.train.labels.tolist()) == {0, 1, 2} == set(data.valid.labels.tolist())  # classes interleaved
    again = load_search_data("folder", tmp_path / "ds", image_size=8)
    assert again.fingerprint == data.fingerprint  # the order does not depend on anything but the files
    assert load_search_data("folder", tmp_path / "ds").image_size == 32
    assert data.record()["classes"] == ["cat", "dog", "owl"]


@pytest.mark.parametrize("layout, fragment", [
    ({"cat": 2, "dog": 0}, "hold no image"),
    ({"cat": 3}, "at least 2 classes"),
    ({"cat": 1, "dog": 3}, "no image in search-"),
])
def test_bad_image_folders_get_one_line(tmp_path, layout, fragment):
    _write_folder(tmp_path / "ds", {name: ("RGB", (8, 8, 3), n) for name, n in layout.items() if n})
    for name in layout:
        (tmp_path / "ds" / name).mkdir(exist_ok=True)
    with pytest.raises(DataError) as error:
        load_search_data("folder", tmp_path / "ds")
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_unreadable_image_in_a_folder_is_named(tmp_path):
    _write_folder(tmp_path / "ds", {"a": ("RGB", (8, 8, 3), 2), "b": ("RGB", (8, 8, 3), 2)})
    (tmp_path / "ds" / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        load_search_data("folder", tmp_path / "ds")


def test_resize_then_centre_crop_keeps_the_middle():
    image = torch.zeros(1, 3, 20, 60, dtype=torch.uint8)
    image[..., 20:40] = 200  # a bright band in the middle third
    out = resize_and_crop(image, 10)  # → 10×30, then the middle 10 columns (the filter blurs the band's edges)
    assert out.shape == (1, 3, 10, 10) and int(out[..., 1:-1].min()) == 200 and int(out.min()) > 150


def test_config_needs_a_data_dir_for_your_own_data():
    with pytest.raises(ConfigError, match="--dataset npz needs --data-dir"):
        SearchConfig(dataset="npz").validate()
    assert "image_size" in SearchConfig(dataset="cifar10").unused_settings()


def test_search_on_npz_records_its_data_and_refuses_to_resume_on_other_data(tmp_path, monkeypatch):
    _shuffled_npz(tmp_path / "d.npz", n=64, size=8)
    config = SearchConfig(dataset="npz", data_dir=str(tmp_path / "d.npz"), out=str(tmp_path / "run"),
                          **{**TINY, "epochs": 2})
    interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, echo=lambda line: None)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert recorded == load_search_data("npz", tmp_path / "d.npz").record()
    _shuffled_npz(tmp_path / "d.npz", n=64, size=8, seed=1)  # the file changes under the run
    with pytest.raises(ConfigError, match="differs from the data"):
        run_search(config, resume=True, echo=lambda line: None)


def test_seeds_on_different_data_are_never_one_group(tmp_path):
    for seed, data_seed in ((0, 0), (1, 0), (2, 1)):
        _shuffled_npz(tmp_path / f"d{data_seed}.npz", n=64, size=8, seed=data_seed)
        run_search(SearchConfig(dataset="npz", data_dir=str(tmp_path / f"d{data_seed}.npz"), seed=seed,
                                out=str(tmp_path / f"run{seed}"), **TINY), echo=lambda line: None)
    groups = group_runs([load_run(tmp_path / f"run{seed}") for seed in range(3)])
    assert sorted(len(group.runs) for group in groups) == [1, 2]
