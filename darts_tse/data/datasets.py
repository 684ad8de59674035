"""The built-in datasets, loaded into memory as uint8 (N, 3, H, W) images + int64 labels, and the search split.

Search-train is the FIRST half of the official training set, search-valid the SECOND half (for every dataset).
See docs/data.md for the on-disk layouts.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import DataError, ImageSplit
from .custom import load_image_folder, load_npz
from .streams import BatchStream

BUILT_IN_DATASETS = ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "synthetic")
CUSTOM_DATASETS = ("folder", "npz")  # your own data (data/custom.py)
DATASETS = BUILT_IN_DATASETS + CUSTOM_DATASETS

DEFAULT_DATA_DIR = Path("data")  # used for cifar*/imagenet16-120 when data_dir is None (relative to the working dir)
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist

# Normalisation constants. CIFAR / ImageNet16: as NB201 (AutoDL get_datasets). Fashion-MNIST: computed here over the
# 60k training images AFTER zero-padding 28x28 -> 32x32 (unpadded: 0.2860 / 0.3530). Synthetic: uniform uint8.
_STATS = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "imagenet16-120": ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09)),
    "fashion-mnist": ((0.2190 * 255,) * 3, (0.3318 * 255,) * 3),
    "synthetic": ((127.5,) * 3, (73.9,) * 3),
}
IMAGENET16_CLASSES = 120
_IDX_MAGIC = {"images": 2051, "labels": 2049}  # 0x00000803 (uint8, 3 dims), 0x00000801 (uint8, 1 dim)


def _stats(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    mean, std = _STATS[name]
    return tuple(m / 255 for m in mean), tuple(s / 255 for s in std)  # type: ignore[return-value]


@dataclass(frozen=True)
class SearchData:
    """The two halves of a dataset's training set, plus what a batch stream needs to normalise / augment them."""

    name: str
    train: ImageSplit  # first half of the official training set
    valid: ImageSplit  # second half
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    augment: bool
    crop_padding: int = 0  # zero padding of the random crop (4 for 32x32 images, 2 for ImageNet16's 16x16)
    hflip: bool = False  # random horizontal flip (with augment)
    source: str | None = None  # the file or folder read (None: synthetic)
    classes: tuple[str, ...] | None = None  # class names where the source has them (folder, npz)
    test_images: int = 0  # images in the source's test set (npz x_test); the search never reads them
    normalisation: str = "fixed"  # "fixed" (the dataset's published constants) or "search-train" (computed on it)
    files_sha256: dict | None = None  # pickle-format sources: each unpickled file's sha256, taken before reading it
    _kept: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # device -> (train, valid)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of what the search uses: search-train and search-valid images and labels, in order."""
        digest = hashlib.sha256()
        for split in (self.train, self.valid):
            digest.update(split.images.numpy().tobytes())
            digest.update(split.labels.numpy().tobytes())
        return digest.hexdigest()

    def record(self) -> dict:
        """What data a run used, for config.json and W&B: source, sizes, classes, normalisation, content hash."""
        return {
            "dataset": self.name, "source": self.source, "num_classes": self.num_classes,
            "classes": list(self.classes) if self.classes is not None else None,
            "image_size": self.image_size, "train_images": len(self.train), "valid_images": len(self.valid),
            "test_images": self.test_images,
            "split": "search-train = first half, search-valid = second half of the training images",
            "normalisation": {"mean": list(self.mean), "std": list(self.std), "from": self.normalisation},
            "augmentation": {"crop_padding": self.crop_padding if self.augment else 0,
                             "hflip": self.augment and self.hflip},
            "sha256": self.fingerprint,
            "files_sha256": self.files_sha256,
        }

    def keep_on(self, device: str | torch.device) -> None:
        """Copy both halves to `device` once (~150 MB for CIFAR-10): streams and evaluation batches on that device
        are then gathered, augmented and normalised there (the same batches)."""
        device = torch.device(device)
        if device.type != "cpu" and device not in self._kept:
            self._kept[device] = (self.train.to(device), self.valid.to(device))

    def split(self, name: str, device: str | torch.device = "cpu") -> ImageSplit:
        """Half `name` ("train" or "valid"): its copy on `device` if :meth:`keep_on` made one, else the CPU one."""
        if name not in ("train", "valid"):
            raise ValueError(f"split must be 'train' or 'valid', not {name!r}")
        kept = self._kept.get(torch.device(device))
        return getattr(self, name) if kept is None else kept[0 if name == "train" else 1]

    def stream(self, split: str, batch_size: int, *, seed: int, device: str | torch.device = "cpu",
               shuffle: bool = True, augment: bool | None = None, stream: str | None = None) -> BatchStream:
        """A BatchStream over split "train" or "valid" with this dataset's normalisation and augmentation.

        The random stream name defaults to the split name, so train and valid streams are independent.
        """
        return BatchStream(self.split(split, device), batch_size, mean=self.mean, std=self.std,
                           augment=self.augment if augment is None else augment, seed=seed,
                           stream=stream or split, device=device, shuffle=shuffle,
                           crop_padding=self.crop_padding, hflip=self.hflip)


def load_search_data(name: str, data_dir: str | Path | None, *, download: bool = True,
                     synthetic_samples: int = 512, synthetic_image_size: int = 32, synthetic_classes: int = 10,
                     seed: int = 0, max_train_samples: int | None = None, image_size: int | None = None,
                     every_class_in_both_halves: bool = True) -> SearchData:
    """Load dataset `name` into memory and split its official training set into search-train / search-valid halves.

    `max_train_samples` keeps only the first n images of each half. `seed` is used by "synthetic" only;
    `image_size` by "folder" (default 32) and "npz" (default: the arrays' own size). `every_class_in_both_halves`
    (folder, npz): refuse images whose halves lack a class, e.g. sorted by label (a search needs both halves; a
    training run, which trains on both, passes False).
    Raises DataError (naming the expected files and the fix) when the data cannot be found or read.
    """
    key = name.lower()
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names are: {', '.join(DATASETS)}")
    if max_train_samples is not None and max_train_samples < 1:
        raise DataError(f"max_train_samples must be >= 1 (got {max_train_samples}); use None for no cap")
    if image_size is not None and image_size < 1:
        raise DataError(f"image_size must be >= 1 (got {image_size})")
    source, classes, test_images = (_absolute(data_dir) if data_dir is not None else None), None, 0
    files_sha256 = data_files_sha256(key, data_dir)  # before anything is unpickled: what a resume checks first
    if key in ("cifar10", "cifar100"):
        images, labels = _load_cifar(key, data_dir, download)
        num_classes, augment, padding, flip = (10 if key == "cifar10" else 100), True, 4, True
        source = source or _absolute(DEFAULT_DATA_DIR)
    elif key == "imagenet16-120":
        images, labels = _load_imagenet16(data_dir)
        num_classes, augment, padding, flip = IMAGENET16_CLASSES, True, 2, True
        source = source or _absolute(DEFAULT_DATA_DIR)
    elif key == "fashion-mnist":
        images, labels = _load_fashion_mnist(data_dir)
        # Random crop (pad 4) only, no flip: items come in a canonical orientation (footwear always has its
        # toe on the left), so mirrored images lie outside the data distribution (see docs/data.md).
        num_classes, augment, padding, flip = 10, True, 4, False
        source = source or _absolute(FASHION_MNIST_DIR)
    elif key in CUSTOM_DATASETS:
        loaded = load_image_folder(data_dir, image_size) if key == "folder" else load_npz(data_dir, image_size)
        images, labels, classes, test_images = loaded.images, loaded.labels, loaded.classes, loaded.test_images
        size = images.shape[-1]
        num_classes, augment, padding, flip = len(classes), True, (4 if size >= 32 else 2), True
    else:
        if synthetic_samples < 2 or synthetic_image_size < 1 or synthetic_classes < 1:
            raise DataError("synthetic data needs synthetic_samples >= 2, synthetic_image_size >= 1, "
                            "synthetic_classes >= 1")
        gen = torch.Generator().manual_seed(seed)
        size = synthetic_image_size
        images = torch.randint(0, 256, (synthetic_samples, 3, size, size), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, synthetic_classes, (synthetic_samples,), dtype=torch.int64, generator=gen)
        # No augmentation by default; the padding/flip used when a stream forces augment=True are CIFAR-like.
        num_classes, augment, padding, flip = synthetic_classes, False, (4 if size >= 32 else 2), True
    if images.shape[-1] % 4 or images.shape[-1] < 4:
        raise DataError(f"{name}: the images are {images.shape[-2]}×{images.shape[-1]}; the supernet halves the "
                        f"resolution twice, so it needs a size that is a multiple of 4 (pass --image-size, e.g. "
                        f"{max(4, images.shape[-1] - images.shape[-1] % 4)})")
    half = images.shape[0] // 2
    cap = max_train_samples
    train = ImageSplit(images[:half][:cap].contiguous(), labels[:half][:cap].contiguous())
    valid = ImageSplit(images[half:][:cap].contiguous(), labels[half:][:cap].contiguous())
    if key in CUSTOM_DATASETS:
        if every_class_in_both_halves:
            _check_both_halves_hold_every_class(train, valid, classes, source)
        mean, std, normalisation = (*channel_statistics(train.images), "search-train")
        if min(std) == 0:
            raise DataError(f"{source}: channel {std.index(0)} of the search-train images is constant (zero "
                            f"variance), so they cannot be normalised; check the images")
    else:
        (mean, std), normalisation = _stats(key), "fixed"
    return SearchData(name=key, train=train, valid=valid, num_classes=num_classes, image_size=images.shape[-1],
                      mean=mean, std=std, augment=augment, crop_padding=padding, hflip=flip, source=source,
                      classes=classes, test_images=test_images, normalisation=normalisation,
                      files_sha256=files_sha256)


def pickle_data_files(name: str, data_dir: str | Path | None, *, test: bool = False) -> list[Path]:
    """The files that loading dataset `name` from `data_dir` unpickles (CIFAR's training batches, ImageNet16's; with
    `test`, CIFAR's test batch too, which a training run reads), as far as they exist; [] for the datasets that are
    not pickles."""
    key = name.lower()
    root = Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR
    if key in ("cifar10", "cifar100"):
        import torchvision

        cls = torchvision.datasets.CIFAR10 if key == "cifar10" else torchvision.datasets.CIFAR100
        folder = root if root.name == cls.base_folder else root / cls.base_folder
        names = [file for file, _ in cls.train_list + (cls.test_list if test else [])] + [cls.meta["filename"]]
    elif key == "imagenet16-120":
        names = [f"train_data_batch_{i}" for i in range(1, 11)]
        folder = next((d for d in (root / "ImageNet16", root) if (d / names[0]).is_file()), root / "ImageNet16")
    else:
        return []
    return [folder / file for file in names if (folder / file).is_file()]


def data_files_sha256(name: str, data_dir: str | Path | None, *, test: bool = False) -> dict[str, str] | None:
    """{file name: sha256} of the files :func:`pickle_data_files` names (None when there are none)."""
    hashes = {}
    for path in pickle_data_files(name, data_dir, test=test):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[path.name] = digest.hexdigest()
    return hashes or None


def check_data_files(name: str, data_dir: str | Path | None, expected: dict | None, where: str) -> None:
    """Before a pickle is opened: DataError when the pickle-format files of `name` in `data_dir` are not the ones
    `where` (a run) read, by their sha256 (`expected`, from the run's data record; nothing to check without it)."""
    if not expected:
        return
    found = data_files_sha256(name, data_dir, test=True) or {}  # a training run also recorded the test batch
    changed = sorted(file for file in expected if found.get(file) != expected[file])
    if changed:
        folder = data_dir if data_dir is not None else DEFAULT_DATA_DIR
        raise DataError(f"the {name} files in {folder} are not the ones {where} read ({', '.join(changed[:3])} "
                        f"differ or are missing, by sha256); they were not unpickled: point --data-dir at that "
                        f"run's data")


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), on [0, 1] pixels (float64 sums)."""
    pixels = images.transpose(0, 1).reshape(images.shape[1], -1).double() / 255
    return tuple(pixels.mean(dim=1).tolist()), tuple(pixels.std(dim=1, correction=0).tolist())


def _check_both_halves_hold_every_class(train: ImageSplit, valid: ImageSplit, classes: tuple[str, ...],
                                        source: str | None) -> None:
    """DataError unless every class has an image in search-train and in search-valid (e.g. arrays sorted by label)."""
    for split, name, half in ((train, "search-train", "first"), (valid, "search-valid", "second")):
        absent = sorted(set(range(len(classes))) - set(split.labels.unique().tolist()))
        if absent:
            names = ", ".join(classes[k] for k in absent[:8]) + (", ..." if len(absent) > 8 else "")
            raise DataError(f"{source}: class(es) {names} have no image in {name} (the {half} half of the images); "
                            f"each class needs images in both halves: shuffle the images (e.g. arrays sorted by "
                            f"label), or add images to small classes")


# ----------------------------------------------------------------------------------------------------- CIFAR


def _load_cifar(name: str, data_dir: str | Path | None, download: bool,
                train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The official training set of CIFAR-`name` (the test set with ``train=False``)."""
    import torchvision  # imported lazily: only CIFAR needs it

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    root = Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR
    if root.name == cls.base_folder:  # also accept data_dir pointing at cifar-10-batches-py/ itself
        root = root.parent
    folder = root / cls.base_folder
    files = ", ".join([f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]])
    try:
        dataset = cls(root=str(root), train=train, download=False)
    except Exception as missing:  # torchvision raises RuntimeError when absent or md5-corrupted
        present = sorted(f for f in files.split(", ") if (folder / f).exists())
        if present:  # files are there but torchvision refused them: never download over the user's files
            raise DataError(
                f"{name} in {folder}/ is corrupted or incomplete ({missing}); it holds {', '.join(present)}, which "
                f"were left as they are (nothing is downloaded over existing files); fix: extract {cls.filename} "
                f"again into another folder and pass --data-dir pointing at the folder that contains "
                f"{cls.base_folder}/"
            ) from missing
        if not download:
            raise DataError(
                f"{name} not found or corrupted in {folder}/ (expected the extracted python-version archive: "
                f"{files}; {missing}) and download=False; fix: extract {cls.filename} so that {folder}/ holds "
                f"those files, or pass --data-dir pointing at the folder that contains {cls.base_folder}/"
            ) from missing
        try:
            dataset = cls(root=str(root), train=train, download=True)
        except Exception as exc:
            raise DataError(
                f"{name} not found or corrupted in {folder}/ (expected the extracted python-version archive: {files}; "
                f"{missing}) and it could not be downloaded from {cls.url} ({type(exc).__name__}: {exc}); fix: download "
                f"{cls.filename} elsewhere and extract it so that {folder}/ holds those files, or pass --data-dir "
                f"pointing at the folder that contains {cls.base_folder}/"
            ) from exc
    images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW
    labels = torch.as_tensor(np.asarray(dataset.targets, dtype=np.int64))
    return images, labels


# ------------------------------------------------------------------------------------------- ImageNet16-120


def _load_imagenet16(data_dir: str | Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    """NB201's ImageNet16 train_data_batch_1..10 (pickled dicts, 'data' N x 768 channel-first, 'labels' 1..1000)."""
    root = Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR
    names = [f"train_data_batch_{i}" for i in range(1, 11)]
    folder = next((d for d in (root / "ImageNet16", root) if (d / names[0]).is_file()), root / "ImageNet16")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(
            f"imagenet16-120 not found: expected the NB201 downsampled-ImageNet pickles {names[0]} ... {names[-1]} "
            f"in {folder}/ (missing: {', '.join(missing)}) and they cannot be downloaded automatically; fix: "
            f"place the extracted ImageNet16 folder of NAS-Bench-201 at {root / 'ImageNet16'}/, or pass --data-dir "
            f"pointing at the folder that contains ImageNet16/"
        )
    chunks, targets = [], []
    for n in names:
        path = folder / n
        try:
            with open(path, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")  # the files are Python-2 pickles
            data = np.asarray(_entry(entry, "data"), dtype=np.uint8).reshape(-1, 3, 16, 16)  # stored channel-first
            labels = np.asarray(_entry(entry, "labels"), dtype=np.int64).reshape(-1)
            if len(labels) != len(data):
                raise ValueError(f"{len(data)} images but {len(labels)} labels")
        except Exception as exc:
            raise DataError(f"cannot read ImageNet16 file {path} ({type(exc).__name__}: {exc}); fix: replace it "
                            f"with the original NAS-Bench-201 ImageNet16 file") from exc
        keep = (labels >= 1) & (labels <= IMAGENET16_CLASSES)  # ImageNet16-120 = ImageNet labels 1..120
        chunks.append(torch.from_numpy(data[keep].copy()))
        targets.append(torch.from_numpy(labels[keep] - 1))
    return torch.cat(chunks), torch.cat(targets)


def _entry(entry: dict, key: str):
    """A pickled dict's value under `key`, whether the pickle decoded its keys as str or bytes."""
    if key in entry:
        return entry[key]
    if key.encode() in entry:
        return entry[key.encode()]
    raise KeyError(f"no {key!r} key (keys: {sorted(map(str, entry))})")


# -------------------------------------------------------------------------------------------- Fashion-MNIST


def _load_fashion_mnist(data_dir: str | Path | None, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Training idx files (the test set's with ``part="t10k"``), zero-padded 28x28 -> 32x32 and repeated to 3
    channels."""
    folder = Path(data_dir).expanduser() if data_dir is not None else FASHION_MNIST_DIR
    images = read_idx(_idx_path(folder, f"{part}-images-idx3-ubyte"), kind="images")
    labels = read_idx(_idx_path(folder, f"{part}-labels-idx1-ubyte"), kind="labels")
    if len(images) != len(labels):
        raise DataError(f"Fashion-MNIST in {folder}/ has {len(images)} images but {len(labels)} labels; fix: "
                        f"reinstall the files (apt-get install --reinstall dataset-fashion-mnist)")
    h, w = images.shape[1:]
    if h > 32 or w > 32:
        raise DataError(f"Fashion-MNIST images in {folder}/ are {h}x{w}, expected 28x28")
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    top, left = (32 - h) // 2, (32 - w) // 2
    x = F.pad(x, (left, 32 - w - left, top, 32 - h - top))  # zero padding -> (N, 1, 32, 32)
    return x.expand(-1, 3, -1, -1).contiguous(), torch.from_numpy(labels.astype(np.int64))


def _idx_path(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"Fashion-MNIST not found: expected {stem}.gz (or {stem}) in {folder}/; fix: "
                    f"apt-get install dataset-fashion-mnist (installs to {FASHION_MNIST_DIR}/), or pass --data-dir "
                    f"pointing at a folder holding train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz")


def read_idx(path: str | Path, kind: str) -> np.ndarray:
    """Parse an idx file (gzipped or not) of uint8 `kind` = "images" (N, rows, cols) or "labels" (N,)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"corrupt idx file {path}: gzip error ({exc}); fix: reinstall or re-download it") from exc
    expected = _IDX_MAGIC[kind]
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected:
        raise DataError(f"corrupt idx file {path}: magic number {magic!r}, expected {expected} (uint8 {kind}); "
                        f"fix: reinstall or re-download it")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(f"corrupt idx file {path}: header says {dims} but it holds {len(raw) - header} bytes of "
                        f"data (truncated?); fix: reinstall or re-download it")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
