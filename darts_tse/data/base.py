"""What every data source produces: an in-memory split of uint8 images and int64 labels; the data error type."""
from __future__ import annotations

from dataclasses import dataclass

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


class DataError(RuntimeError):
    """Data cannot be found, read or used; the message names the problem and the fix."""


@dataclass(frozen=True)
class ImageSplit:
    """uint8 images (N, 3, H, W) and int64 labels (N,), both on the CPU (or both on one device: :meth:`to`)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"ImageSplit images must be uint8 (N, C, H, W), got {self.images.dtype} "
                            f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise DataError(f"ImageSplit labels must be int64 ({self.images.shape[0]},), got {self.labels.dtype} "
                            f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device) -> ImageSplit:
        """The same split with both tensors on `device`."""
        return ImageSplit(self.images.to(device), self.labels.to(device))
