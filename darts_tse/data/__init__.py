"""Data: the built-in datasets and your own (image folders, .npz arrays), the search split, deterministic batch streams.

Every source yields the official training set as uint8 images; search-train is its first half, search-valid its
second half. Batches are a pure function of (seed, stream, epoch, position), so resumed runs see the same batches.
"""
from .base import Batch, DataError, ImageSplit
from .datasets import (DATASETS, DEFAULT_DATA_DIR, FASHION_MNIST_DIR, SearchData, check_data_files, load_search_data,
                       read_idx)
from .streams import BatchStream, CyclingBatches, augment_batch, iterate_eval, stable_seed
from .regularisers import cutout, mixup, mixup_draw
from .train_test import TRAIN_TEST_DATASETS, TrainTestData, load_train_test_data

__all__ = [
    "DATASETS", "DEFAULT_DATA_DIR", "FASHION_MNIST_DIR", "Batch", "BatchStream", "CyclingBatches", "DataError",
    "ImageSplit", "SearchData", "augment_batch", "check_data_files", "iterate_eval", "load_search_data", "read_idx", "stable_seed",
    "TRAIN_TEST_DATASETS", "TrainTestData", "cutout", "load_train_test_data", "mixup", "mixup_draw",
]
