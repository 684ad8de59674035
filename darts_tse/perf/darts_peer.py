"""DARTS' own search network (quark0/darts ``cnn/model_search.py``'s ``Network``), loaded from the user's copy.

Nothing of DARTS is part of this project: ``--peer-darts PATH`` names the user's ``model_search.py``; its directory
must also hold DARTS' ``operations.py`` and ``genotypes.py`` (the file imports them by those names). The file calls
``.cuda()`` while building its α; :func:`load_peer_network` builds the network with ``Tensor.cuda`` and ``Module.cuda``
temporarily redirected to the benchmark's device, then freezes α (a weights-only step, like the xautodl case).
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn


class PeerError(ValueError):
    """The --peer-darts file cannot be used; the message names the problem."""


@contextlib.contextmanager
def _cuda_redirected(device: torch.device):
    """``x.cuda()`` → ``x.to(device)`` for tensors and modules while the peer builds its network."""
    tensor_cuda, module_cuda = torch.Tensor.cuda, nn.Module.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self.to(device)
    nn.Module.cuda = lambda self, *a, **k: self.to(device)
    try:
        yield
    finally:
        torch.Tensor.cuda, nn.Module.cuda = tensor_cuda, module_cuda


def load_peer_module(path: str | Path):
    """Import the user's ``model_search.py`` (its sibling ``operations.py`` and ``genotypes.py`` resolve from its
    directory) under a private module name."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise PeerError(f"--peer-darts {path} is not a file; pass your copy of quark0/darts cnn/model_search.py")
    missing = [name for name in ("operations.py", "genotypes.py") if not (path.parent / name).is_file()]
    if missing:
        raise PeerError(f"--peer-darts {path}: its directory lacks {', '.join(missing)} (DARTS' cnn/ folder has them)")
    spec = importlib.util.spec_from_file_location("_peer_darts_model_search", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PeerError(f"--peer-darts {path} failed to import: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    if not isinstance(getattr(module, "Network", None), type):
        raise PeerError(f"--peer-darts {path} defines no Network class; is it DARTS' cnn/model_search.py?")
    return module


def load_peer_network(path: str | Path, C: int, num_classes: int, layers: int, device: torch.device) -> nn.Module:
    """DARTS' ``Network(C, num_classes, layers, criterion)`` on ``device``, α frozen, in training mode."""
    module = load_peer_module(path)
    with _cuda_redirected(device):
        model = module.Network(C, num_classes, layers, nn.CrossEntropyLoss()).to(device)
    for alpha in model.arch_parameters():
        alpha.requires_grad_(False)  # a weights-only step: no gradient to α
    return model.train()
