"""The DARTS search cell: two preprocessed inputs, 4 nodes, a mixed op on each of its 14 edges.

Structure (quark0/darts ``cnn/model_search.py``; our own code): the two inputs are the outputs of the two previous
cells, preprocessed by a :class:`~.ops.FactorizedReduce` (input 0, when the previous cell was a reduction) or a
ReLU-Conv1×1-BN; node ``i`` sums one mixed op from each earlier state; in a reduction cell the edges leaving the two
inputs have stride 2; the cell's output concatenates its 4 nodes.

The mixed forward computes ``Σ_ops w · op(x)`` per edge with the same modules DARTS uses (so the weight count and the
state dict have DARTS' structure), but shares and fuses what DARTS recomputes:

* per source state and stride, ``ReLU(x)`` (read by every conv op and by the strided skip of every out-edge) and the
  two pools are computed once; with batch statistics (``track_running_stats=False``, the default) the pools'
  BN(affine=False) output is the same for every out-edge, so it is normalised once too;
* a conv op's weight ``w`` is the scale of its last BN (``affine=False``, so ``w · BN(y) = batch_norm(y, weight=w)``):
  no separate multiply; pool and skip terms are added with one in-place ``addcmul`` each;
* ``none`` costs nothing (its output is zero).

Partial channels (PC-DARTS, ``partial_channels=K``): each mixed op sees the first C/K channels of its input, the other
channels bypass it (max-pooled 2×2 when the edge is strided), and the two parts are concatenated and shuffled with
K groups. The shuffle is the same permutation on every edge, so a node sums its edges' op parts and their bypass parts
first and concatenates and shuffles once. (PC-DARTS' edge normalisation is not part of this.)

:meth:`SearchCell.forward_path` runs one discrete cell (a genotype's 8 edges, one op each) with the same modules;
with batch statistics and ``partial_channels=1`` it equals the mixed forward with the matching one-hot weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import scaled_batch_norm
from .genotype import NUM_EDGES, NUM_INPUTS, NUM_NODES, Cell, edge_index
from .ops import FactorizedReduce, ReLUConvBN, make_op




def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS' shuffle: view the channels as (groups, C/groups), transpose, flatten."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixWeights:
    """One forward's mixing weights (2, 14, n_ops) laid out for the cells (computed once, shared by all cells):
    per cell type, 0-d scalars ``scalar[t][edge][op]`` and, per channel count, BN scale vectors."""

    def __init__(self, mix: torch.Tensor):
        self.mix = mix
        self.scalars = [[row.unbind(0) for row in cell.unbind(0)] for cell in mix.unbind(0)]
        self._scales: dict[tuple[int, int], list[tuple[torch.Tensor, ...]]] = {}

    def scales(self, cell_type: int, channels: int) -> list[tuple[torch.Tensor, ...]]:
        """``scales[edge][op]``: that weight repeated ``channels`` times (a BN weight vector)."""
        key = (cell_type, channels)
        if key not in self._scales:
            full = self.mix[cell_type].unsqueeze(-1).expand(*self.mix.shape[1:], channels).contiguous()
            self._scales[key] = [edge.unbind(0) for edge in full.unbind(0)]
        return self._scales[key]


class MixedEdge(nn.Module):
    """The ops of one edge (DARTS' MixedOp), at ``channels`` (= C/K) channels and ``stride``."""

    def __init__(self, ops: tuple[str, ...], channels: int, stride: int, *, track_running_stats: bool):
        super().__init__()
        self.names = ops
        self.stride = stride
        self.ops = nn.ModuleList(make_op(name, channels, stride, affine=False, pool_bn=True,
                                         track_running_stats=track_running_stats) for name in ops)


class _Shared:
    """What every out-edge of one source state (at one stride) reads: the op input, ReLU and pools, made once."""

    def __init__(self, x: torch.Tensor, stride: int):
        self.x, self.stride = x, stride
        self._relu: torch.Tensor | None = None
        self._pooled: dict[str, torch.Tensor] = {}
        self._normed: dict[str, torch.Tensor] = {}

    @property
    def relu(self) -> torch.Tensor:
        if self._relu is None:
            self._relu = F.relu(self.x)
        return self._relu

    def pooled(self, kind: str) -> torch.Tensor:
        if kind not in self._pooled:
            if kind == "max":
                self._pooled[kind] = F.max_pool2d(self.x, 3, self.stride, 1)
            else:
                self._pooled[kind] = F.avg_pool2d(self.x, 3, self.stride, 1, count_include_pad=False)
        return self._pooled[kind]

    def normed(self, kind: str, bn: nn.BatchNorm2d) -> torch.Tensor:
        """BN(pool(x)) with batch statistics: the same for every out-edge when BN keeps no running statistics."""
        if kind not in self._normed:
            self._normed[kind] = scaled_batch_norm(bn, self.pooled(kind), None)
        return self._normed[kind]


def _conv_term(op: nn.Module, name: str, shared: _Shared, scale: torch.Tensor | None) -> torch.Tensor:
    """``scale · op(x)`` for a conv-like op, reusing ReLU(x) and folding ``scale`` into the op's last BN."""
    relu = shared.relu
    if name == "skip_connect":  # strided: FactorizedReduce
        fr: FactorizedReduce = op
        y = torch.cat([fr.conv_1(relu), fr.conv_2(relu[:, :, 1:, 1:])], dim=1)
        return scaled_batch_norm(fr.bn, y, scale)
    if name.startswith("sep_conv"):
        first, second = op
        y = F.relu(first[3](first[2](first[1](relu))))
        return scaled_batch_norm(second[3], second[2](second[1](y)), scale)
    return scaled_batch_norm(op[3], op[2](op[1](relu)), scale)  # dil_conv


def _add(acc: torch.Tensor | None, term: torch.Tensor) -> torch.Tensor:
    return term if acc is None else acc.add_(term)


def _add_scaled(acc: torch.Tensor | None, term: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.mul(term, weight) if acc is None else acc.addcmul_(term, weight)


def mixed_edge_sum(edge: MixedEdge, shared: _Shared, weights: tuple[torch.Tensor, ...],
                   scales: tuple[torch.Tensor, ...], acc: torch.Tensor | None) -> torch.Tensor | None:
    """Add ``Σ_ops w · op(x)`` of one edge into ``acc`` (None: start a new sum; the first term is always a fresh
    tensor, so the in-place adds never touch a tensor autograd saved)."""
    for k, (name, op) in enumerate(zip(edge.names, edge.ops)):
        if name == "none":
            continue
        if name in ("max_pool_3x3", "avg_pool_3x3"):
            kind, bn = name[:3], op[1]
            if bn.track_running_stats:  # per-edge statistics: BN per edge on the shared pool
                acc = _add(acc, scaled_batch_norm(bn, shared.pooled(kind), scales[k]))
            else:
                acc = _add_scaled(acc, shared.normed(kind, bn), weights[k])
        elif name == "skip_connect" and edge.stride == 1:
            acc = _add_scaled(acc, shared.x, weights[k])
        else:
            acc = _add(acc, _conv_term(op, name, shared, scales[k]))
    return acc


class SearchCell(nn.Module):
    """One DARTS search cell at C channels per node (output 4C), normal or reduction."""

    def __init__(self, c_prev_prev: int, c_prev: int, C: int, *, reduction: bool, reduction_prev: bool,
                 ops: tuple[str, ...], partial_channels: int = 1, track_running_stats: bool = False):
        super().__init__()
        if C % partial_channels:
            raise ValueError(f"partial channels K={partial_channels} must divide the cell's C={C}")
        self.reduction = reduction
        self.C = C
        self.k = partial_channels
        self.ops_names = ops
        bn = {"affine": False, "track_running_stats": track_running_stats}
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, C, **bn)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, C, 1, 1, 0, **bn)
        self.preprocess1 = ReLUConvBN(c_prev, C, 1, 1, 0, **bn)
        self.edges = nn.ModuleList(
            MixedEdge(ops, C // partial_channels, self.edge_stride(source), track_running_stats=track_running_stats)
            for node in range(NUM_NODES) for source in range(NUM_INPUTS + node))
        assert len(self.edges) == NUM_EDGES

    def edge_stride(self, source: int) -> int:
        """2 for the edges leaving the two inputs of a reduction cell, else 1."""
        return 2 if self.reduction and source < NUM_INPUTS else 1

    # ---- partial channels --------------------------------------------------------------------------------
    def _split(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the channels the ops see, the bypassed rest) of one state."""
        if self.k == 1:
            return state, None
        part = self.C // self.k
        return state[:, :part], state[:, part:]

    def _bypass(self, rest: torch.Tensor, stride: int) -> torch.Tensor:
        return F.max_pool2d(rest, 2, 2) if stride == 2 else rest

    def _join(self, op_part: torch.Tensor, bypass: torch.Tensor | None) -> torch.Tensor:
        if bypass is None:
            return op_part
        return channel_shuffle(torch.cat([op_part, bypass], dim=1), self.k)

    # ---- forwards ----------------------------------------------------------------------------------------
    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: MixWeights) -> torch.Tensor:
        """The mixed cell on the previous two cells' outputs; ``weights`` holds both cell types' mixing weights."""
        cell_type = int(self.reduction)
        scalars = weights.scalars[cell_type]
        scales = weights.scales(cell_type, self.C // self.k)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        shared: list[_Shared] = []
        rests: list[torch.Tensor | None] = []
        for node in range(NUM_NODES):
            for source in range(len(shared), len(states)):  # the states made since the last node
                x, rest = self._split(states[source])
                shared.append(_Shared(x, self.edge_stride(source)))
                rests.append(rest)
            acc: torch.Tensor | None = None
            bypass: torch.Tensor | None = None
            for source in range(NUM_INPUTS + node):
                e = edge_index(node, source)
                acc = mixed_edge_sum(self.edges[e], shared[source], scalars[e], scales[e], acc)
                if rests[source] is not None:
                    b = self._bypass(rests[source], self.edge_stride(source))
                    bypass = b if bypass is None else bypass + b
            assert acc is not None  # every op list holds an op besides `none`
            states.append(self._join(acc, bypass))
        return torch.cat(states[NUM_INPUTS:], dim=1)

    def forward_path(self, s0: torch.Tensor, s1: torch.Tensor, cell: Cell) -> torch.Tensor:
        """The discrete cell ``cell`` (a genotype's 8 (op, input) pairs): each node runs only its two chosen ops."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(NUM_NODES):
            total: torch.Tensor | None = None
            bypass: torch.Tensor | None = None
            for name, source in cell[2 * node:2 * node + 2]:
                edge = self.edges[edge_index(node, source)]
                x, rest = self._split(states[source])
                out = edge.ops[edge.names.index(name)](x)
                total = out if total is None else total + out
                if rest is not None:
                    b = self._bypass(rest, edge.stride)
                    bypass = b if bypass is None else bypass + b
            states.append(self._join(total, bypass))
        return torch.cat(states[NUM_INPUTS:], dim=1)
