"""What a stand-alone network costs: its weights and its multiply-adds per image."""
from __future__ import annotations

import torch
from torch import nn


def count_weights(model: nn.Module, *, exclude: str | None = "auxiliary") -> int:
    """The number of trainable weights, without the submodule named `exclude` (the auxiliary head, only used in
    training; DARTS reports its networks' sizes so)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and (exclude is None or not name.startswith(f"{exclude}.")))


@torch.no_grad()
def multiply_adds(model: nn.Module, image_size: int, channels: int = 3) -> int:
    """Multiply-adds of one forward of one image in evaluation mode (so without the auxiliary head) through the
    convolutions and linear layers (BN, pooling and additions are not counted, as in DARTS' and NB201's tables)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output[0].numel() * kernel

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters())
        model(torch.zeros(1, channels, image_size, image_size, device=parameter.device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return int(total)
