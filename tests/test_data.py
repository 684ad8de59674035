"""Tests of darts_tse.data: loaders on tiny files in the real on-disk formats, and the deterministic batch streams."""
import gzip
import os
import pickle
import struct
import urllib.error

import numpy as np
import pytest
import torch

from darts_tse.data import (
    DATASETS,
    BatchStream,
    CyclingBatches,
    DataError,
    ImageSplit,
    augment_batch,
    iterate_eval,
    load_search_data,
    stable_seed,
)
from pickle_files import write_py2_pickle

# ------------------------------------------------------------------------------------------------ file writers


_write_pickle = write_py2_pickle


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision verifies the md5 of the real archives; our tiny files only have to exist (presence still checked)."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def _write_cifar10(root, n=20, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    per = n // 5
    for i in range(5):
        sl = slice(i * per, (i + 1) * per)
        _write_pickle(folder / f"data_batch_{i + 1}", {"batch_label": f"training batch {i + 1} of 5",
                                                         "labels": labels[sl], "data": data[sl],
                                                         "filenames": [f"img{j}.png" for j in range(per)]})
    _write_pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": labels[:per],
                                          "data": data[:per], "filenames": ["t.png"] * per})
    _write_pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)],
                                            "num_cases_per_batch": per, "num_vis": 3072})
    return data, np.asarray(labels)


def _write_cifar100(root, n=12):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    fine = [int(v) for v in rng.integers(0, 100, n)]
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, sl in (("train", slice(None)), ("test", slice(0, 4))):
        _write_pickle(folder / name, {"filenames": ["x.png"] * len(fine[sl]), "batch_label": name,
                                      "fine_labels": fine[sl], "coarse_labels": [f // 5 for f in fine[sl]],
                                      "data": data[sl]})
    _write_pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                                    "coarse_label_names": [f"c{i}" for i in range(20)]})
    return data, np.asarray(fine)


def _write_imagenet16(folder, bytes_keys_in_first=False):
    """10 train batches of 6 images; labels 1-based ImageNet labels, half of them outside 1..120."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    kept_images, kept_labels = [], []
    for i in range(1, 11):
        data = rng.integers(0, 256, (6, 768), dtype=np.uint8)
        labels = [1, 121, 120, 1000, 1 + (i * 7) % 120, 500]
        entry = {"data": data, "labels": labels, "mean": np.zeros(768)}
        if i == 1 and bytes_keys_in_first:
            (folder / f"train_data_batch_{i}").write_bytes(pickle.dumps({k.encode(): v for k, v in entry.items()}))
        else:
            _write_pickle(folder / f"train_data_batch_{i}", entry)
        for row, lab in zip(data, labels):
            if 1 <= lab <= 120:
                kept_images.append(row.reshape(3, 16, 16))
                kept_labels.append(lab - 1)
    _write_pickle(folder / "val_data", {"data": rng.integers(0, 256, (2, 768), dtype=np.uint8), "labels": [1, 2]})
    return np.stack(kept_images), np.asarray(kept_labels)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def _write_fashion(folder, n=6, gz=True):
    rng = np.random.default_rng(3)
    images = rng.integers(1, 256, (n, 28, 28), dtype=np.uint8)  # no zero pixel inside, so the padding is visible
    labels = rng.integers(0, 10, n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr, magic in (("train-images-idx3-ubyte", images, 2051), ("train-labels-idx1-ubyte", labels, 2049)):
        raw = _idx_bytes(arr, magic)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return images, labels


# --------------------------------------------------------------------------------------------------- loaders


def test_cifar10_real_format_halves(tmp_path, no_md5):
    data, labels = _write_cifar10(tmp_path)
    d = load_search_data("cifar10", tmp_path, download=False)
    chw = torch.from_numpy(data.reshape(-1, 3, 32, 32))
    assert (d.num_classes, d.image_size, d.augment, d.crop_padding, d.hflip) == (10, 32, True, 4, True)
    assert d.train.images.shape == (10, 3, 32, 32) and d.train.images.dtype == torch.uint8
    assert torch.equal(d.train.images, chw[:10]) and torch.equal(d.valid.images, chw[10:])  # first half = train
    assert d.train.labels.tolist() == labels[:10].tolist() and d.valid.labels.tolist() == labels[10:].tolist()
    assert d.train.labels.dtype == torch.int64
    assert d.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    # data_dir may also point at cifar-10-batches-py/ itself; max_train_samples keeps the first n of each half
    capped = load_search_data("cifar10", tmp_path / "cifar-10-batches-py", download=False, max_train_samples=3)
    assert torch.equal(capped.train.images, chw[:3]) and torch.equal(capped.valid.images, chw[10:13])


def test_cifar100_real_format(tmp_path, no_md5):
    data, fine = _write_cifar100(tmp_path)
    d = load_search_data("cifar100", tmp_path, download=False)
    assert d.num_classes == 100 and len(d.train) == 6 and len(d.valid) == 6
    assert torch.equal(d.valid.images, torch.from_numpy(data[6:].reshape(-1, 3, 32, 32)))
    assert d.train.labels.tolist() == fine[:6].tolist()


def test_cifar_missing_without_download(tmp_path):
    with pytest.raises(DataError) as err:
        load_search_data("cifar10", tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "--data-dir" in msg and "data_batch_1" in msg


def test_cifar_failed_download(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as err:
        load_search_data("cifar100", tmp_path, download=True)
    msg = str(err.value)
    assert calls and "could not be downloaded" in msg and "no network" in msg
    assert str(tmp_path / "cifar-100-python") in msg and "--data-dir" in msg


def test_cifar_corrupt_and_no_download_says_corrupted(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    _write_cifar10(tmp_path)  # real layout, but the md5 sums of the real archive do not match

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    before = {path.name: path.read_bytes() for path in (tmp_path / "cifar-10-batches-py").iterdir()}
    with pytest.raises(DataError) as err:
        load_search_data("cifar10", tmp_path, download=True)
    msg = str(err.value)
    assert "corrupted or incomplete" in msg and "nothing is downloaded over existing files" in msg
    assert calls == []  # existing (corrupted) files are never overwritten by a download
    assert {path.name: path.read_bytes() for path in (tmp_path / "cifar-10-batches-py").iterdir()} == before


def test_cifar_absent_and_no_network_says_not_downloaded(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as err:
        load_search_data("cifar10", tmp_path, download=True)
    msg = str(err.value)
    assert "not found or corrupted" in msg and "could not be downloaded" in msg and "no network" in msg


def test_imagenet16_120_label_filter(tmp_path):
    images, labels = _write_imagenet16(tmp_path / "ImageNet16", bytes_keys_in_first=True)
    d = load_search_data("imagenet16-120", tmp_path)
    assert len(images) == 30 and (d.num_classes, d.image_size, d.crop_padding, d.hflip) == (120, 16, 2, True)
    assert d.train.images.shape == (15, 3, 16, 16) and d.valid.images.shape == (15, 3, 16, 16)
    all_labels = torch.cat([d.train.labels, d.valid.labels])
    assert all_labels.tolist() == labels.tolist() and all_labels.min() >= 0 and all_labels.max() <= 119
    assert {0, 119} <= set(all_labels.tolist())  # ImageNet labels 1 and 120 -> 0 and 119
    assert torch.equal(torch.cat([d.train.images, d.valid.images]), torch.from_numpy(images))
    direct = load_search_data("imagenet16-120", tmp_path / "ImageNet16")  # data_dir may point at ImageNet16/
    assert torch.equal(direct.valid.labels, d.valid.labels)


def test_imagenet16_missing(tmp_path):
    with pytest.raises(DataError) as err:
        load_search_data("imagenet16-120", tmp_path)
    assert str(tmp_path / "ImageNet16") in str(err.value) and "--data-dir" in str(err.value)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_tiny_idx(tmp_path, gz):
    images, labels = _write_fashion(tmp_path, gz=gz)
    d = load_search_data("fashion-mnist", tmp_path)
    assert d.train.images.shape == (3, 3, 32, 32) and d.image_size == 32 and d.num_classes == 10
    assert (d.augment, d.crop_padding, d.hflip) == (True, 4, False)
    x = torch.cat([d.train.images, d.valid.images])
    assert torch.equal(x[:, 0, 2:30, 2:30], torch.from_numpy(images))
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    border = x.clone()
    border[:, :, 2:30, 2:30] = 0
    assert border.sum() == 0  # the 2-pixel padding is zero
    assert torch.cat([d.train.labels, d.valid.labels]).tolist() == labels.tolist()


def test_fashion_mnist_real(fashion_mnist_dir):
    d = load_search_data("fashion-mnist", fashion_mnist_dir)
    assert len(d.train) == 30000 and len(d.valid) == 30000
    assert d.train.images.shape[1:] == (3, 32, 32)
    assert d.train.images[:, :, :2].sum() == 0 and d.valid.images[:, :, :, 30:].sum() == 0
    assert set(d.valid.labels.unique().tolist()) == set(range(10))
    assert load_search_data("fashion-mnist", None, max_train_samples=5).train.images.equal(d.train.images[:5])
    x = torch.cat([b for b, _ in iterate_eval(d.train, 5000, d.mean, d.std)])
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05  # the documented mean/std fit


def test_fashion_mnist_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as err:
        load_search_data("fashion-mnist", tmp_path)
    assert "--data-dir" in str(err.value) and str(tmp_path) in str(err.value)
    _write_fashion(tmp_path)
    raw = bytearray(gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes()))
    raw[3] = 0x01  # magic 2049 (a labels file) where images are expected
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="magic number"):
        load_search_data("fashion-mnist", tmp_path)
    raw[3] = 0x03
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw[:-10])))
    with pytest.raises(DataError, match="truncated"):
        load_search_data("fashion-mnist", tmp_path)


def test_fashion_mnist_corrupt_gzip_body(tmp_path):
    _write_fashion(tmp_path)
    packed = bytearray((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())
    packed[10:30] = bytes(b ^ 0xFF for b in packed[10:30])  # damage inside the deflate stream (zlib.error)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(bytes(packed))
    with pytest.raises(DataError, match="corrupt idx file .*gzip error.*fix: reinstall"):
        load_search_data("fashion-mnist", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError) as err:
        load_search_data("mnist", None)
    assert all(name in str(err.value) for name in DATASETS)


def test_synthetic_deterministic():
    a = load_search_data("synthetic", None, seed=3, synthetic_samples=20, synthetic_image_size=8, synthetic_classes=4)
    b = load_search_data("synthetic", None, seed=3, synthetic_samples=20, synthetic_image_size=8, synthetic_classes=4)
    c = load_search_data("synthetic", None, seed=4, synthetic_samples=20, synthetic_image_size=8, synthetic_classes=4)
    assert len(a.train) == 10 and a.train.images.shape == (10, 3, 8, 8) and not a.augment
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.valid.labels, b.valid.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert a.train.labels.max() < 4 and a.num_classes == 4


# ---------------------------------------------------------------------------------------------------- streams


def _split(n=10, size=8):
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(9))
    return ImageSplit(images, torch.arange(n))


def _stream(split, augment=True, seed=0, stream="train", **kw):
    return BatchStream(split, 4, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), augment=augment, seed=seed,
                       stream=stream, **kw)


def _equal(batches_a, batches_b):
    return len(batches_a) == len(batches_b) and all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(batches_a, batches_b))


def test_stable_seed_is_stable():
    assert stable_seed("order", 0, "train", 1) == stable_seed("order", 0, "train", 1)
    assert stable_seed("order", 0, "train", 1) != stable_seed("order", 0, "valid", 1)
    assert stable_seed(1, 2) == 5051128224166061352  # blake2b: the same in every process and run


def test_batch_stream_deterministic_and_short_last_batch():
    split = _split()
    s = _stream(split)
    assert s.num_batches() == 3
    first = list(s.epoch(0))
    torch.manual_seed(123)  # the global RNG plays no part
    assert _equal(first, list(_stream(split).epoch(0)))
    assert [len(y) for _, y in first] == [4, 4, 2]  # no drop_last
    assert sorted(torch.cat([y for _, y in first]).tolist()) == list(range(10))  # each sample once
    assert first[0][0].dtype == torch.float32 and first[0][0].shape == (4, 3, 8, 8)
    assert not _equal(first, list(s.epoch(1)))  # another epoch, another order
    assert not torch.equal(torch.cat([y for _, y in first]), torch.cat([y for _, y in s.epoch(1)]))
    assert not _equal(first, list(_stream(split, stream="valid").epoch(0)))
    assert not _equal(first, list(_stream(split, seed=1).epoch(0)))
    assert BatchStream(ImageSplit(torch.zeros(25000, 3, 1, 1, dtype=torch.uint8), torch.zeros(25000, dtype=torch.long)),
                       64, mean=(0,) * 3, std=(1,) * 3, augment=False, seed=0, stream="t").num_batches() == 391


def test_batch_stream_start_equals_skipping():
    s = _stream(_split(n=22))
    full = list(s.epoch(2))
    assert _equal(list(s.epoch(2, start=3)), full[3:])
    assert _equal([s.batch(2, 4)], [full[4]])
    assert list(s.epoch(2, start=s.num_batches())) == []


def test_normalisation_and_no_shuffle():
    split = _split()
    s = _stream(split, augment=False, shuffle=False)
    x = torch.cat([b for b, _ in s.epoch(5)])
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(x * std + mean, split.images.float() / 255, atol=1e-5)
    ev = list(iterate_eval(split, 3, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)))
    assert torch.cat([y for _, y in ev]).tolist() == list(range(10)) and torch.allclose(torch.cat([b for b, _ in ev]), x)


def test_cycling_batches_persist_wrap_and_resume(monkeypatch):
    s = _stream(_split())
    built = []
    original = s.epoch
    monkeypatch.setattr(s, "epoch", lambda epoch, start=0: built.append((epoch, start)) or original(epoch, start))
    cyc = CyclingBatches(s)
    got = [next(cyc) for _ in range(7)]  # 3 + 3 + 1 batches
    assert built == [(0, 0), (1, 0), (2, 0)]  # one iterator per cycle, never one per step
    assert _equal(got, list(original(0)) + list(original(1)) + list(original(2))[:1])
    assert not torch.equal(torch.cat([y for _, y in got[:3]]), torch.cat([y for _, y in got[3:6]]))  # new permutation
    assert cyc.state_dict() == {"cycle": 2, "position": 1}
    for consumed in (0, 2, 3, 5):  # includes the end of a cycle (position == num_batches)
        a = CyclingBatches(_stream(_split()))
        for _ in range(consumed):
            next(a)
        state = a.state_dict()
        b = CyclingBatches(_stream(_split()))
        b.load_state_dict(state)
        assert _equal([next(a) for _ in range(4)], [next(b) for _ in range(4)])
    assert iter(cyc) is cyc


def test_augment_padding0_flip_is_pixel_permutation():
    x = _split(n=64).images
    out = augment_batch(x, padding=0, hflip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all() and (~same).any() and (~flipped).any()  # both cases occur
    assert torch.equal(out.flatten(1).sort(1).values, x.flatten(1).sort(1).values)


def test_augment_crop_is_a_window_of_the_padded_image():
    x = _split(n=16, size=6).images
    out = augment_batch(x, padding=2, hflip=False, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    windows = padded.unfold(2, 6, 1).unfold(3, 6, 1)  # (B, C, 5, 5, 6, 6): all crops
    offsets = set()
    for i in range(16):
        hits = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(windows[i, :, dy, dx], out[i])]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 1  # the offsets are random, not one fixed shift


def test_stream_augmentation_resumable_and_shape():
    d = load_search_data("synthetic", None, synthetic_samples=40, synthetic_image_size=16)
    s = d.stream("train", 4, seed=0, augment=True)
    assert s.augment and s.crop_padding == 2 and s.hflip  # forced on: CIFAR-like, padding 2 for 16 px
    s = BatchStream(d.train, 4, mean=d.mean, std=d.std, augment=True, seed=0, stream="train")
    full = list(s.epoch(0))
    assert all(x.shape[1:] == (3, 16, 16) for x, _ in full)
    assert _equal(list(s.epoch(0, start=3)), full[3:])  # batch b's crops do not depend on where we resumed
    plain = list(BatchStream(d.train, 4, mean=d.mean, std=d.std, augment=False, seed=0, stream="train").epoch(0))
    assert not _equal(full, plain) and all(torch.equal(a[1], b[1]) for a, b in zip(full, plain))
    same = ImageSplit(d.train.images[:1].expand(8, -1, -1, -1).contiguous(), torch.zeros(8, dtype=torch.long))
    b0, b1 = BatchStream(same, 4, mean=d.mean, std=d.std, augment=True, seed=0, stream="t", shuffle=False).epoch(0)
    assert not torch.equal(b0[0], b1[0])  # each batch has its own crops/flips


def test_empty_split_rejected():
    empty = ImageSplit(torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(DataError):
        _stream(empty)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_stream_matches_cpu():
    split = _split(n=70, size=32)
    cpu = list(_stream(split).epoch(3))
    gpu = list(_stream(split, device="cuda").epoch(3))
    assert gpu[0][0].is_cuda and gpu[0][1].is_cuda
    assert all(torch.allclose(a[0], b[0].cpu(), atol=1e-6) and torch.equal(a[1], b[1].cpu()) for a, b in zip(cpu, gpu))
