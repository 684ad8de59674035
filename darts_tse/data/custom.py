"""Your own data: an image folder (torchvision's ImageFolder layout) or a ``.npz`` file of uint8 arrays.

Both become the same in-memory form as the built-in datasets (uint8 RGB images (N, 3, S, S) + int64 labels 0..K-1),
so the search split (first half / second half), the augmentation and the batch streams are the ones every dataset
uses. Every check raises :class:`DataError` with one line naming the problem and the fix.

* ``folder``: ``DIR/<class>/<image>``; classes are the sub-folder names in sorted order (label = position), images
  any size and mode (grey, RGB, RGBA, palette), resized so the shorter side is ``image_size`` and centre-cropped to
  ``image_size`` × ``image_size``. The images are put in a fixed order that interleaves the classes (sorted by a
  hash of their path relative to ``DIR``: the same on every machine and for every seed), so that both halves hold
  every class.
* ``npz``: arrays ``x_train`` (uint8, N×C×H×W or N×H×W×C, C = 1 or 3) and ``y_train`` (integers 0..K-1), optional
  ``x_test``/``y_test`` (checked the same way; the search never reads them). The images keep their order; they are
  resized and centre-cropped only when ``image_size`` is given and differs from theirs.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..trust import unpickling_refused
from .base import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_FOLDER_IMAGE_SIZE = 32
MAX_LABEL = 1_000_000  # labels are class numbers 0..K-1


@dataclass(frozen=True)
class LoadedImages:
    """uint8 RGB images (N, 3, S, S), int64 labels (N,), class names, and the number of test images in the source."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    test_images: int = 0
    test: tuple[torch.Tensor, torch.Tensor] | None = None  # npz: x_test/y_test as checked images and labels


# ---- image folder -----------------------------------------------------------------------------------------------
def load_image_folder(data_dir: str | Path | None, image_size: int | None = None) -> LoadedImages:
    """Read ``DIR/<class>/<image>`` into memory (see the module docstring for the order and the resizing)."""
    if data_dir is None:
        raise DataError("--dataset folder needs --data-dir DIR, a folder with one sub-folder of images per class")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"--dataset folder: {root} is not a folder; pass --data-dir DIR with one sub-folder of "
                        f"images per class (DIR/<class>/<image>)")
    size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
    class_dirs = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    unreadable = [d.name for d in class_dirs if not os.access(d, os.R_OK | os.X_OK)]
    if unreadable:
        raise DataError(f"--dataset folder: cannot read the class folder(s) {', '.join(unreadable)} in {root} "
                        f"(permission denied); make them readable (chmod -R u+rX)")
    files = {d.name: sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
             for d in class_dirs}
    empty = [name for name, images in files.items() if not images]
    if empty:
        raise DataError(f"--dataset folder: class folder(s) {', '.join(empty)} in {root} hold no image "
                        f"({', '.join(IMAGE_SUFFIXES)}); add images to them, or move them out of {root}")
    _check_classes(len(files), f"{root} (one sub-folder per class)")
    samples = [(path, label) for label, name in enumerate(files) for path in files[name]]
    samples.sort(key=lambda sample: hashlib.blake2b(sample[0].relative_to(root).as_posix().encode(),
                                                    digest_size=8).digest())
    images = torch.stack([_read_image(path, size) for path, _ in samples])
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    return LoadedImages(images, labels, tuple(files))


def _read_image(path: Path, size: int) -> torch.Tensor:
    """One image file as uint8 RGB (3, size, size)."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with torchvision

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as error:
        raise DataError(f"--dataset folder: image {path} is larger than Pillow's safety limit (a decompression bomb: "
                        f"{error}); replace it with a smaller image, or move it out of the data folder") from None
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DataError(f"--dataset folder: cannot read image {path} ({type(error).__name__}: {error}); replace it, "
                        f"or move it out of the data folder") from error
    return resize_and_crop(torch.from_numpy(rgb.copy()).permute(2, 0, 1).unsqueeze(0), size)[0]


# ---- .npz arrays ------------------------------------------------------------------------------------------------
def load_npz(data_dir: str | Path | None, image_size: int | None = None) -> LoadedImages:
    """Read ``x_train``/``y_train`` (and check the optional ``x_test``/``y_test``) from a ``.npz`` file."""
    if data_dir is None:
        raise DataError("--dataset npz needs --data-dir FILE.npz holding the arrays x_train and y_train")
    path = Path(data_dir).expanduser()
    if not path.is_file():
        raise DataError(f"--dataset npz: {path} is not a file; pass --data-dir FILE.npz holding x_train and y_train")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy (one array) or text numpy read some other way
            raise DataError(f"--dataset npz: {path} holds a single array, not a .npz archive of named arrays; save "
                            f"x_train and y_train with numpy.savez(path, x_train=..., y_train=...)")
        with loaded as arrays:
            present = set(arrays.files)
            missing = [name for name in ("x_train", "y_train") if name not in present]
            if missing:
                raise DataError(f"--dataset npz: {path} lacks the array(s) {', '.join(missing)} (it holds: "
                                f"{', '.join(sorted(present)) or 'nothing'}); save x_train (uint8 images) and y_train "
                                f"(integer labels)")
            x_train, y_train = arrays["x_train"], arrays["y_train"]
            test = (arrays["x_test"], arrays["y_test"]) if {"x_test", "y_test"} <= present else None
            if test is None and ({"x_test", "y_test"} & present):
                raise DataError(f"--dataset npz: {path} has only one of x_test and y_test; save both or neither")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        detail = unpickling_refused(error) or f"{type(error).__name__}: {error}"
        raise DataError(f"--dataset npz: cannot read {path} as a .npz file of numeric arrays ({detail}); save it with "
                        f"numpy.savez or numpy.savez_compressed from uint8 images and integer labels") from None
    images, labels = _npz_split(x_train, y_train, "x_train", "y_train", path, image_size)
    num_classes = int(labels.max()) + 1
    present = labels.unique()
    _check_classes(num_classes, f"y_train of {path}")
    if len(present) < num_classes:
        missing_classes = sorted(set(range(min(num_classes, len(present) + 8))) - set(present.tolist()))  # a few
        raise DataError(f"--dataset npz: y_train of {path} has labels up to {num_classes - 1} but only "
                        f"{len(present)} distinct ones (none of class(es) {_few(missing_classes)}); relabel the "
                        f"classes as 0..K-1")
    test_images, test_split = 0, None
    if test is not None:
        test_split = _npz_split(*test, "x_test", "y_test", path, images.shape[-1])
        test_labels = test_split[1]
        if int(test_labels.max()) >= num_classes:
            raise DataError(f"--dataset npz: y_test of {path} has label {int(test_labels.max())}, but y_train has "
                            f"only the classes 0..{num_classes - 1}; relabel y_test like y_train")
        test_images = len(test_labels)
    return LoadedImages(images, labels, tuple(str(k) for k in range(num_classes)), test_images, test_split)


def _npz_split(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str, path: Path,
               image_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked uint8 RGB images (N, 3, S, S) and int64 labels from one pair of arrays."""
    where = f"--dataset npz: {x_name} of {path}"
    if x.dtype != np.uint8:
        raise DataError(f"{where} has dtype {x.dtype}; save the images as uint8 pixels 0..255")
    if x.ndim != 4:
        raise DataError(f"{where} has shape {x.shape}; expected N×C×H×W or N×H×W×C with C = 1 or 3")
    if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        nchw = x
    elif x.shape[-1] in (1, 3):
        nchw = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{where} has shape {x.shape}: no axis of 1 or 3 channels after N; expected N×C×H×W or "
                        f"N×H×W×C with C = 1 or 3")
    if len(nchw) == 0:
        raise DataError(f"{where} holds no image")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise DataError(f"--dataset npz: {y_name} of {path} must be a 1-D array of integers, got {y.dtype} {y.shape}")
    if len(y) != len(nchw):
        raise DataError(f"--dataset npz: {path} has {len(nchw)} images in {x_name} but {len(y)} labels in {y_name}")
    if int(y.min()) < 0:
        raise DataError(f"--dataset npz: {y_name} of {path} has the negative label {int(y.min())}; labels are 0..K-1")
    if int(y.max()) >= MAX_LABEL:  # e.g. a uint64 label that would wrap to a negative int64
        raise DataError(f"--dataset npz: {y_name} of {path} has the label {int(y.max())}, not a class number "
                        f"0..K-1 (K < {MAX_LABEL:,}); relabel the classes as 0..K-1")
    images = torch.from_numpy(np.ascontiguousarray(nchw))
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    height, width = images.shape[-2:]
    if image_size is None and height != width:
        raise DataError(f"{where} holds {height}×{width} images; pass --image-size S to resize and centre-crop them "
                        f"to S×S")
    if image_size is not None and (height, width) != (image_size, image_size):
        images = resize_and_crop(images, image_size)
    return images.contiguous(), torch.from_numpy(y.astype(np.int64))


# ---- shared -----------------------------------------------------------------------------------------------------
def resize_and_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) → (N, C, size, size): bilinear (antialiased) resize of the shorter side to `size`, then a
    centre crop."""
    height, width = images.shape[-2:]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        target = (max(size, round(height * scale)), max(size, round(width * scale)))
        if target != (height, width):
            resized = F.interpolate(images.float(), size=target, mode="bilinear", antialias=True, align_corners=False)
            images = resized.round_().clamp_(0, 255).to(torch.uint8)
        top, left = (images.shape[-2] - size) // 2, (images.shape[-1] - size) // 2
        images = images[..., top:top + size, left:left + size]
    return images


def _check_classes(count: int, where: str) -> None:
    if count < 2:
        raise DataError(f"a search needs at least 2 classes; {where} has {count}")


def _few(values: list[int]) -> str:
    return ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
