"""The size of an NB201 cell and of its stand-alone network, counted analytically (torch-free): the trivial baselines
a ranking by TSE must beat.

* :func:`effective_edges`: the edges whose op can change the cell's output (not ``none``, and on a path from node 0 to
  node 3 through non-``none`` edges); the other ops are built by NB201 but their output never reaches node 3.
* :func:`conv_weights`: the conv weights per channel² on the effective cell (a 1×1 counts 1, a 3×3 counts 9).
* :func:`network_size`: the parameters and FLOPs of the stand-alone NB201 network (``infer.tiny``: stem, three stages of
  N cells at C, 2C, 4C with two ResNet reduction blocks between them, BN + ReLU, global pooling, linear), counted as
  NB201 / NATS-Bench count them (``params`` = every weight, ``flops`` = multiply-accumulates of the convolutions and the
  linear layer, AutoDL's ``get_model_infos``), either over every op the genotype names (``effective=False``: the
  numbers NATS-Bench publishes) or over the effective cell only.

``tests/test_size_baselines.py`` checks :func:`network_size` against the params and FLOPs NATS-Bench records for its
fixture's cells, and measures the Spearman ρ of :func:`conv_weights` with NB201's accuracies over all 15,625 cells.
"""
from __future__ import annotations

from dataclasses import dataclass

from .genotype import EDGES, NUM_NODES, Genotype

CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
SIZE_BASELINES = ("ConvW", "Params", "FLOPs")  # the names the rank tables print
DATASET_SHAPES = {"cifar10": (32, 10), "cifar100": (32, 100), "imagenet16-120": (16, 120)}  # (image size, classes)


def effective_edges(genotype: Genotype) -> tuple[bool, ...]:
    """For each edge (canonical order): does its op reach the cell's output from its input (non-none all the way)?"""
    live = [op != "none" for op in genotype.ops]
    from_input = {0}
    for node in range(1, NUM_NODES):
        if any(live[i] and target == node and source in from_input for i, (target, source) in enumerate(EDGES)):
            from_input.add(node)
    to_output = {NUM_NODES - 1}
    for node in range(NUM_NODES - 2, -1, -1):
        if any(live[i] and source == node and target in to_output for i, (target, source) in enumerate(EDGES)):
            to_output.add(node)
    return tuple(live[i] and source in from_input and target in to_output for i, (target, source) in enumerate(EDGES))


def conv_count(genotype: Genotype) -> int:
    """The number of convolutions (1×1 or 3×3) on the effective cell."""
    return sum(on and op in CONV_KERNELS for op, on in zip(genotype.ops, effective_edges(genotype)))


def conv_weights(genotype: Genotype) -> int:
    """Conv weights per channel² on the effective cell: Σ k² over its k×k convolutions (1×1 → 1, 3×3 → 9)."""
    return sum(CONV_KERNELS[op] ** 2 for op, on in zip(genotype.ops, effective_edges(genotype))
               if on and op in CONV_KERNELS)


@dataclass(frozen=True)
class NetworkSize:
    """Weights and multiply-accumulates (per image) of a stand-alone network."""

    params: int
    flops: int


def network_size(genotype: Genotype, C: int = 16, N: int = 5, num_classes: int = 10, image_size: int = 32, *,
                 effective: bool = True) -> NetworkSize:
    """The stand-alone NB201 network's parameters and FLOPs (see the module docstring); `effective` counts only the
    effective cell's convolutions, False every conv the genotype names (NATS-Bench's published numbers)."""
    on = effective_edges(genotype) if effective else tuple(op != "none" for op in genotype.ops)
    kernels = [CONV_KERNELS[op] for op, used in zip(genotype.ops, on) if used and op in CONV_KERNELS]
    params = 27 * C + 2 * C  # stem: 3×3 conv 3 → C, BN
    flops = 27 * C * image_size**2
    channels, size = C, image_size
    for stage in range(3):
        if stage:  # ResNet block c → 2c, stride 2: ReLU-conv3×3-BN, ReLU-conv3×3-BN, shortcut avgpool + conv1×1
            c_in, channels, size = channels, 2 * channels, size // 2
            params += 9 * c_in * channels + 2 * channels + 9 * channels**2 + 2 * channels + c_in * channels
            flops += (9 * c_in * channels + 9 * channels**2 + c_in * channels) * size**2
        params += N * sum(k * k * channels**2 + 2 * channels for k in kernels)  # ReLU-conv-BN per conv edge
        flops += N * sum(k * k * channels**2 for k in kernels) * size**2
    params += 2 * channels + channels * num_classes + num_classes  # last BN, classifier
    flops += channels * num_classes + num_classes
    return NetworkSize(params, flops)


def size_baselines(genotype: Genotype, truth_dataset: str) -> dict[str, int]:
    """The rank tables' size baselines of a cell: ConvW, and Params and FLOPs of its effective cell's stand-alone
    network at NB201's C = 16, N = 5 for `truth_dataset` (an NB201 dataset name); and its conv count (``convs``, by
    which the within-group ρ groups cells)."""
    image_size, classes = DATASET_SHAPES[truth_dataset]
    size = network_size(genotype, num_classes=classes, image_size=image_size)
    return {"ConvW": conv_weights(genotype), "Params": size.params, "FLOPs": size.flops, "convs": conv_count(genotype)}
