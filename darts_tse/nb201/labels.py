"""How NB201 numbers are named wherever they are shown: datasets, splits and their labels (torch-free, numpy-free)."""
from __future__ import annotations

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
NB201_SPLITS: tuple[str, ...] = ("valid", "test")


def nb201_label(dataset: str, split: str) -> str:
    """'cifar10 test', 'cifar10-valid valid' (CIFAR-10's valid numbers come from NB201's cifar10-valid), 'cifar100 test'."""
    return f"cifar10-valid {split}" if dataset == "cifar10" and split == "valid" else f"{dataset} {split}"
