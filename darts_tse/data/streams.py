"""Deterministic batch streams over an :class:`ImageSplit`: normalised, augmented, on the device.

Everything random in a batch stream is a pure function of (seed, stream, epoch[, batch]): the sample order of an epoch
comes from a CPU torch.Generator seeded by a stable hash of (seed, stream, epoch), the crop/flip of batch b from one
seeded by (seed, stream, epoch, b). Neither touches the global RNG, so a resumed run sees exactly the same batches.

No host synchronisation per batch on CUDA: an epoch's crop/flip draws are made on the CPU when the epoch starts and
copied to the device once (from pinned memory, asynchronously), as are the epoch's sample order when the images live
on the device (``SearchData.keep_on``) and each batch's images when they do not. The batches are the same either way.
"""
from __future__ import annotations

import hashlib
import math
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F

from .base import Batch, DataError, ImageSplit


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from `parts` that is the same in every process (unlike Python's salted hash())."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def _generator(*parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(stable_seed(*parts))


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`: unchanged where it is there already; from the CPU to CUDA through pinned memory,
    asynchronously (no host synchronisation)."""
    if tensor.device == device:
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def augment_draws(batch: int, padding: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """The random crop offsets and flips of a batch of `batch` images, drawn on the CPU from `generator`: int64
    (3, batch) = (row offset, column offset, flip 0/1)."""
    off_y = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    off_x = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    flip = torch.rand(batch, generator=generator) < 0.5
    if not hflip:
        flip.zero_()
    return torch.stack([off_y, off_x, flip.long()])


def augment_batch(images: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding `padding`) and optional horizontal flip of a (B, C, H, W) batch, in one gather.

    The random offsets/flips are drawn on the CPU from `generator`, then the crop runs on the batch's device.
    """
    draws = to_device(augment_draws(images.shape[0], padding, hflip, generator), images.device)
    return apply_augment(images, padding, draws)


def apply_augment(images: torch.Tensor, padding: int, draws: torch.Tensor) -> torch.Tensor:
    """The crop and flip of :func:`augment_draws`' `draws` (on the images' device) applied to a (B, C, H, W) batch."""
    b, c, h, w = images.shape
    dev = images.device
    off_y, off_x, flip = draws[0], draws[1], draws[2].bool()
    padded = F.pad(images, (padding,) * 4) if padding else images
    ar_h, ar_w = torch.arange(h, device=dev), torch.arange(w, device=dev)
    rows = off_y[:, None] + ar_h  # (B, H)
    cols = off_x[:, None] + torch.where(flip[:, None], (w - 1) - ar_w, ar_w)  # (B, W), mirrored when flipped
    return padded[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


class BatchStream:
    """Deterministic batches of one ImageSplit, normalised float32 on `device`, optionally augmented.

    The split may live on the CPU (each batch is gathered there and copied) or on `device` (batches are gathered
    there: nothing but the epoch's order and crop/flip draws crosses from the host, once per epoch).
    `crop_padding` None means 4 for images of 32 px or more, else 2 (ImageNet16). No drop_last: the last batch is short.
    """

    def __init__(self, split: ImageSplit, batch_size: int, *, mean: Sequence[float], std: Sequence[float],
                 augment: bool, seed: int, stream: str, device: str | torch.device = "cpu", shuffle: bool = True,
                 crop_padding: int | None = None, hflip: bool = True) -> None:
        if len(split) == 0:
            raise DataError("cannot stream an empty ImageSplit (check max_train_samples / the dataset files)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split, self.batch_size = split, batch_size
        self.augment, self.seed, self.stream, self.shuffle, self.hflip = augment, seed, stream, shuffle, hflip
        self.crop_padding = crop_padding if crop_padding is not None else (4 if split.images.shape[-1] >= 32 else 2)
        self.device = torch.device(device)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self._shift = (mean_t * 255).to(self.device)  # (x/255 - mean)/std == (x - 255 mean) * (1 / (255 std))
        self._scale = (1.0 / (std_t * 255)).to(self.device)

    def num_batches(self) -> int:
        """ceil(N / batch_size)."""
        return math.ceil(len(self.split) / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches()

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of `epoch`: a permutation seeded by (seed, stream, epoch), or 0..N-1 without shuffle."""
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=_generator("order", self.seed, self.stream, epoch))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches `start`, start+1, ... of `epoch`, each (images float32 (B, C, H, W), labels int64 (B,))."""
        total = self.num_batches()
        if not 0 <= start <= total:
            raise ValueError(f"start must be in [0, {total}], got {start}")
        return self._iterate(epoch, start, total)

    def _iterate(self, epoch: int, start: int, total: int) -> Iterator[Batch]:
        order = to_device(self.order(epoch), self.split.images.device)
        draws = self._draws(epoch, range(start, total))
        first = start * self.batch_size
        for index in range(start, total):
            rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
            indices = order[rows]
            batch_draws = None if draws is None else draws[:, rows.start - first:rows.start - first + len(indices)]
            yield self._batch(indices, batch_draws)

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch `index` of `epoch` alone (same values as the one `epoch(epoch)` yields at that position)."""
        if not 0 <= index < self.num_batches():
            raise IndexError(f"batch index {index} out of range [0, {self.num_batches()})")
        indices = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return self._batch(to_device(indices, self.split.images.device), self._draws(epoch, range(index, index + 1)))

    def _draws(self, epoch: int, batches: range) -> torch.Tensor | None:
        """The crop/flip draws of `batches` of `epoch` side by side (3, their images), on the device; None without
        augmentation. Batch b's come from its own generator, seeded by (seed, stream, epoch, b)."""
        if not self.augment or not batches:
            return None
        n = len(self.split)
        draws = [augment_draws(min(self.batch_size, n - index * self.batch_size), self.crop_padding, self.hflip,
                               _generator("augment", self.seed, self.stream, epoch, index)) for index in batches]
        return to_device(torch.cat(draws, dim=1), self.device)

    def _batch(self, indices: torch.Tensor, draws: torch.Tensor | None) -> Batch:
        images = to_device(self.split.images.index_select(0, indices), self.device)
        labels = to_device(self.split.labels.index_select(0, indices), self.device)
        if draws is not None:
            images = apply_augment(images, self.crop_padding, draws)
        return images.float().sub_(self._shift).mul_(self._scale), labels


class CyclingBatches:
    """Persistent endless iterator over a BatchStream (for the DARTS validation stream).

    Never rebuilds per step; when a cycle is exhausted it moves to the next one (cycle c uses the stream's epoch c,
    so a new permutation). state_dict()/load_state_dict() resume exactly.
    """

    def __init__(self, stream: BatchStream) -> None:
        self.stream = stream
        self._cycle, self._position = 0, 0
        self._iterator: Iterator[Batch] | None = None

    def __iter__(self) -> CyclingBatches:
        return self

    def __next__(self) -> Batch:
        if self._position >= self.stream.num_batches():
            self._cycle, self._position, self._iterator = self._cycle + 1, 0, None
        if self._iterator is None:
            self._iterator = self.stream.epoch(self._cycle, start=self._position)
        batch = next(self._iterator)
        self._position += 1
        return batch

    def state_dict(self) -> dict:
        """{"cycle": c, "position": p}: p batches of cycle c have been consumed."""
        return {"cycle": self._cycle, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        """Resume so that the next batch equals the one the uninterrupted iterator would have produced."""
        cycle, position = int(state["cycle"]), int(state["position"])
        if cycle < 0 or not 0 <= position <= self.stream.num_batches():
            raise ValueError(f"invalid CyclingBatches state {state} for a stream of {self.stream.num_batches()} "
                             f"batches")
        self._cycle, self._position, self._iterator = cycle, position, None


def iterate_eval(split: ImageSplit, batch_size: int, mean: Sequence[float], std: Sequence[float],
                 device: str | torch.device = "cpu") -> Iterator[Batch]:
    """All of `split` in order, normalised, without augmentation (e.g. supernet accuracy on search-valid)."""
    stream = BatchStream(split, batch_size, mean=mean, std=std, augment=False, seed=0, stream="eval",
                         device=device, shuffle=False)
    return stream.epoch(0)
