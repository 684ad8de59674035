"""The data of a training run (a found cell trained from scratch): the WHOLE official training set trains, and the
dataset's own test split is evaluated after every epoch and only reported (never used to choose anything).

CIFAR-10/100 and Fashion-MNIST: their official test sets. ``npz``: the arrays ``x_test``/``y_test``. ``folder``: a
``DIR/train/<class>/`` and ``DIR/test/<class>/`` pair (the same classes). ``synthetic``: a second draw of random
images. ImageNet16-120 and data without a test split are refused in one line (:class:`DataError`).

The result is a :class:`SearchData` whose ``train`` split is the whole training set and whose ``valid`` split is the
test split, so that the epoch loop's batch streams and evaluation read it unchanged; its :meth:`record` says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .base import DataError, ImageSplit
from .custom import load_image_folder, load_npz
from .datasets import (SearchData, _load_cifar, _load_fashion_mnist, channel_statistics, data_files_sha256,
                       load_search_data)

TRAIN_TEST_DATASETS = ("cifar10", "cifar100", "fashion-mnist", "synthetic", "folder", "npz")
SPLIT_NOTE = ("the whole training set trains; the test split is evaluated after every epoch and only reported "
              "(never used to choose anything)")


@dataclass(frozen=True)
class TrainTestData(SearchData):
    """A :class:`SearchData` with ``train`` = the whole training set and ``valid`` = the test split."""

    @property
    def test(self) -> ImageSplit:
        """The test split (what the epoch loop evaluates as its ``valid`` split)."""
        return self.valid

    def record(self) -> dict:
        """What data the run used, for config.json: source, sizes (train and test), classes, normalisation, hash."""
        record = super().record()
        record.pop("valid_images")
        return record | {"train_images": len(self.train), "test_images": len(self.valid), "split": SPLIT_NOTE}


def load_train_test_data(name: str, data_dir: str | Path | None, *, download: bool = True,
                         synthetic_samples: int = 512, synthetic_image_size: int = 32, seed: int = 0,
                         max_train_samples: int | None = None, image_size: int | None = None) -> TrainTestData:
    """The whole training set of dataset `name` and its test split (see the module docstring);
    `max_train_samples` keeps the first n training images (smoke runs). DataError, one line, when there is no test
    split or the data cannot be read."""
    key = name.lower()
    if key not in TRAIN_TEST_DATASETS:
        raise DataError(f"--dataset {name}: a training run needs the dataset's own test split, and this version reads "
                        f"none for {name}; use one of {', '.join(TRAIN_TEST_DATASETS)} (e.g. your images as an npz "
                        f"with x_test/y_test)")
    files_sha256 = data_files_sha256(key, data_dir, test=True)  # before anything is unpickled: what a resume checks
    train_dir = data_dir
    if key == "folder":
        train_dir, test_dir = _folder_pair(data_dir)
    halves = load_search_data(key, train_dir, download=download, synthetic_samples=synthetic_samples,
                              synthetic_image_size=synthetic_image_size, seed=seed, image_size=image_size,
                              every_class_in_both_halves=False)  # both halves train: label-sorted data is fine
    images = torch.cat([halves.train.images, halves.valid.images])[:max_train_samples]
    labels = torch.cat([halves.train.labels, halves.valid.labels])[:max_train_samples]
    train = ImageSplit(images.contiguous(), labels.contiguous())
    if key in ("cifar10", "cifar100"):
        test = ImageSplit(*_load_cifar(key, data_dir, download, train=False))
    elif key == "fashion-mnist":
        test = ImageSplit(*_load_fashion_mnist(data_dir, part="t10k"))
    elif key == "npz":
        loaded = load_npz(data_dir, image_size)
        if loaded.test is None:
            raise DataError(f"--dataset npz: {data_dir} has no test split; a training run reports its test accuracy "
                            f"on the arrays x_test and y_test: save them in the .npz too")
        test = ImageSplit(*loaded.test)
    elif key == "folder":
        loaded = load_image_folder(test_dir, halves.image_size)
        if loaded.classes != halves.classes:
            raise DataError(f"--dataset folder: the classes of {test_dir} ({', '.join(loaded.classes)}) differ from "
                            f"those of {train_dir} ({', '.join(halves.classes)}); give both the same class folders")
        test = ImageSplit(loaded.images, loaded.labels)
    else:  # synthetic: a second, independent draw of the same size
        generator = torch.Generator().manual_seed(seed + 1)
        size = halves.image_size
        test = ImageSplit(torch.randint(0, 256, (synthetic_samples, 3, size, size), dtype=torch.uint8,
                                        generator=generator),
                          torch.randint(0, halves.num_classes, (synthetic_samples,), dtype=torch.int64,
                                        generator=generator))
    mean, std = halves.mean, halves.std
    if halves.normalisation != "fixed":  # your own data: normalise by the whole training set
        mean, std = channel_statistics(train.images)
    return TrainTestData(name=key, train=train, valid=test, num_classes=halves.num_classes,
                         image_size=halves.image_size, mean=mean, std=std, augment=halves.augment,
                         crop_padding=halves.crop_padding, hflip=halves.hflip, source=halves.source,
                         classes=halves.classes, test_images=len(test), files_sha256=files_sha256,
                         normalisation="training set" if halves.normalisation != "fixed" else "fixed")


def _folder_pair(data_dir: str | Path | None) -> tuple[Path, Path]:
    """DIR/train and DIR/test of a folder dataset; DataError naming the layout when they are not there."""
    if data_dir is None:
        raise DataError("--dataset folder needs --data-dir DIR holding DIR/train/<class>/ and DIR/test/<class>/")
    root = Path(data_dir).expanduser()
    train, test = root / "train", root / "test"
    if not (train.is_dir() and test.is_dir()):
        raise DataError(f"--dataset folder: {root} has no test split; a training run reads DIR/train/<class>/<image> "
                        f"for training and DIR/test/<class>/<image> for its test accuracy: put the images in {root}/train/<class>/ "
                        f"and {root}/test/<class>/")
    return train, test
