"""The NB201 search cell with a mixed op on each of its six edges.

Computed per source node rather than per edge: every out-edge of node i reads the same input, so ReLU(node i),
avg-pool(node i) and, per conv type, the convolutions of all of node i's out-edges are one operation each
(the convolution weights of the out-edges are stacked along the output channels; BatchNorm is per channel,
so one BN over the stacked channels equals one BN per edge). The `none` op contributes exactly zero and
costs nothing.

The weighted sum costs few passes over memory:

* a conv op's mixing weight is BatchNorm's per-channel scale (the BNs have ``affine=False``, so
  ``w · BN(y) = batch_norm(y, weight=w)``); the scale costs nothing in the forward and its gradient, ∂L/∂α, is one of
  the per-channel sums that BN's backward computes anyway. The 1×1 and 3×3 results of a source node are then added
  in place, so each edge's two conv terms arrive as one tensor.
* each target node is one autograd node (:class:`_NodeSum`): conv terms + Σ w·(skip, pool) terms, accumulated in
  place; its backward computes ∂L/∂w of the skip and pool terms as dot products (one read of each tensor), and only
  when α needs a gradient.

The maths equals the straightforward per-edge implementation (see tests/test_supernet.py).

A cell also runs one **path** (a discrete subnetwork: one op per edge, :meth:`SearchCell.forward_path`) with the same
weight tensors: only the chosen op of each edge, each conv with its edge's rows of the stacked weights, no `none`
edge and no node that is dead (no input) or useless (no way to the output). With batch statistics (the default, no
running statistics) its output and gradients equal the supernet's with one-hot mixing weights (the other ops get a
zero gradient there, and none here); with ``track_running_stats`` only the statistics of the ops on the path move, and
in eval mode a conv on a dead node differs (the supernet's BN maps its zero input to −μ/σ, the path skips it).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import scaled_batch_norm
from .genotype import EDGES, NUM_NODES, OPS

NONE, SKIP, CONV_1X1, CONV_3X3, AVG_POOL = (OPS.index(name) for name in
                                           ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))


def out_edges(source: int) -> list[tuple[int, int]]:
    """(edge index, target node) of every edge leaving `source`, in canonical edge order."""
    return [(edge, target) for edge, (target, src) in enumerate(EDGES) if src == source]


# ---- where each mixing weight goes -------------------------------------------------------------------------------
_SOURCES = range(NUM_NODES - 1)
_OUT_EDGES = [out_edges(source) for source in _SOURCES]
_NUM_OUT = [len(edges) for edges in _OUT_EDGES]  # 3, 2, 1
# skip and pool terms of target node t, in the order _NodeSum receives them: (skip, pool) of each source i < t
_LINEAR = {target: [(EDGES.index((target, source)), op) for source in range(target) for op in (SKIP, AVG_POOL)]
           for target in range(1, NUM_NODES)}
_NUM_OPS = len(OPS)
# One gather of the flattened 6×5 mixing matrix gives every weight the cells use, in this order:
#   per source node: the 1×1 weights of its out-edges, then their 3×3 weights   (12: the BN scales, before ×C)
#   per target node: the (skip, pool) weights of each of its sources           (2 + 4 + 6)
_CONV_GATHER = [edge * _NUM_OPS + op for edges in _OUT_EDGES for op in (CONV_1X1, CONV_3X3) for edge, _ in edges]
_LINEAR_GATHER = [edge * _NUM_OPS + op for target in range(1, NUM_NODES) for edge, op in _LINEAR[target]]
_GATHER = _CONV_GATHER + _LINEAR_GATHER
_GATHER_SPLIT = [len(_CONV_GATHER)] + [len(_LINEAR[target]) for target in range(1, NUM_NODES)]
_CONV_SPLIT = [count for count in _NUM_OUT for _ in (CONV_1X1, CONV_3X3)]  # edges per (source, conv type)
_INDEX_CACHE: dict[torch.device, torch.Tensor] = {}


def _gather_index(device: torch.device) -> torch.Tensor:
    """The gather index on `device`, cached per device in eager code. Compiled code neither reads nor writes the
    cache (a constant of the graph instead): a global written from a graph costs a recompile, and under CUDA graphs
    it would hold a graph's output."""
    if torch.compiler.is_compiling():
        return torch.tensor(_GATHER, dtype=torch.long, device=device)
    index = _INDEX_CACHE.get(device)
    if index is None:
        index = _INDEX_CACHE[device] = torch.tensor(_GATHER, dtype=torch.long, device=device)
    return index


class CellWeights:
    """The 6×5 mixing weights of one forward, laid out for :class:`SearchCell` (computed once, shared by all cells).

    Every piece a cell reads is one output of a few shared ops (gather, split, repeat), so the backward to α has a
    handful of small autograd nodes per forward rather than a few per cell.
    """

    def __init__(self, mix: torch.Tensor):
        if mix.shape != (len(EDGES), _NUM_OPS):
            raise ValueError(f"mixing weights must be {len(EDGES)}×{_NUM_OPS}, got {tuple(mix.shape)}")
        self.mix = mix
        conv, *linear = mix.reshape(-1).index_select(0, _gather_index(mix.device)).split(_GATHER_SPLIT)
        self._conv_weights = conv
        self._linear = dict(zip(range(1, NUM_NODES), linear))
        self._scales: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def conv_scales(self, C: int, source: int) -> tuple[torch.Tensor, torch.Tensor]:
        """BN scales (1×1, 3×3) of `source`'s stacked convs at C channels per edge: each edge's weight repeated C times."""
        per_source = self._scales.get(C)
        if per_source is None:
            pieces = self._conv_weights.repeat_interleave(C).split([C * n for n in _CONV_SPLIT])
            per_source = self._scales[C] = list(zip(pieces[0::2], pieces[1::2]))
        return per_source[source]

    def linear(self, target: int) -> torch.Tensor:
        """Weights of the (skip, pool) terms of each source of `target`, in :data:`_LINEAR` order."""
        return self._linear[target]


@dataclass(frozen=True)
class PathTerm:
    """One edge of a path that the forward computes: its index, source node, op (index into OPS) and position
    ``k`` among its source's out-edges (which rows of the stacked conv weights are its own)."""

    edge: int
    source: int
    op: int
    k: int


@dataclass(frozen=True)
class CellPath:
    """A discrete cell (one op per edge) and what its forward must compute: ``terms[t - 1]`` are the edges summed
    into node t, empty where node t is dead (no input reaches it) or useless (it reaches no output)."""

    ops: tuple[int, ...]
    terms: tuple[tuple[PathTerm, ...], ...]

    @staticmethod
    @cache
    def of(ops: tuple[int, ...]) -> CellPath:
        """The plan of the cell with op indices `ops` (canonical edge order), cached: at most 15,625 of them."""
        if len(ops) != len(EDGES) or any(not 0 <= op < _NUM_OPS for op in ops):
            raise ValueError(f"a path has one op index 0..{_NUM_OPS - 1} per edge ({len(EDGES)}), got {ops}")
        carries = {(target, source): ops[edge] != NONE for edge, (target, source) in enumerate(EDGES)}
        live = [True] + [False] * (NUM_NODES - 1)
        for target in range(1, NUM_NODES):
            live[target] = any(carries[target, source] and live[source] for source in range(target))
        useful = [False] * (NUM_NODES - 1) + [True]
        for source in reversed(range(NUM_NODES - 1)):
            useful[source] = any(carries[target, source] and useful[target] for target in range(source + 1, NUM_NODES))
        terms = []
        for target in range(1, NUM_NODES):
            needed = live[target] and useful[target]
            terms.append(tuple(
                PathTerm(edge, source, ops[edge], [e for e, _ in out_edges(source)].index(edge))
                for source in range(target) for edge in (EDGES.index((target, source)),)
                if needed and carries[target, source] and live[source]))
        return CellPath(tuple(ops), tuple(terms))




def _is_dense(t: torch.Tensor) -> bool:
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


def _dots(grad: torch.Tensor, terms: list[torch.Tensor]) -> torch.Tensor:
    """[Σ grad·term for each term]: dot products over memory order (one read of each tensor) where every term has
    grad's dense layout, else plain reductions."""
    if _is_dense(grad) and all(t.stride() == grad.stride() for t in terms):
        n = grad.numel()
        flat = grad.as_strided((n,), (1,))
        return torch.stack([torch.dot(flat, t.as_strided((n,), (1,))) for t in terms])
    return torch.stack([(grad * t).sum() for t in terms])


class _NodeSum(torch.autograd.Function):
    """``node = Σ conv_terms + Σ_k w[k] · linear_terms[k]``.

    Backward: every conv term gets ∂L/∂node itself, a linear term gets w[k]·∂L/∂node, and w gets the dot products
    ⟨∂L/∂node, linear_terms[k]⟩ (saved and computed only when w needs a gradient). The backward is built from
    differentiable operations, so it supports double backward (create_graph=True).

    Eager, the sum accumulates in place into one fresh tensor (of the linear terms' memory layout). Under
    ``torch.compile`` it is out of place (the compiler fuses it anyway): TorchDynamo 2.11 loses the gradient of an
    output that a Function's forward mutates (∂L/∂α and every weight gradient before the head came out exactly 0),
    and 2.11 and 2.13 graph-break on an ``out=`` tensor that is channels-last.
    """

    @staticmethod
    def forward(ctx, w: torch.Tensor, n_conv: int, *terms: torch.Tensor) -> torch.Tensor:
        convs, linear = terms[:n_conv], terms[n_conv:]
        weights = w.unbind(0)
        if torch.compiler.is_compiling():  # out of place: see _NodeSum's docstring
            out = torch.addcmul(convs[0], linear[0], weights[0])
            for term in convs[1:]:
                out = out + term
            for term, weight in zip(linear[1:], weights[1:]):
                out = torch.addcmul(out, term, weight)
        else:
            out = torch.addcmul(convs[0], linear[0], weights[0], out=torch.empty_like(linear[0]))
            for term in convs[1:]:
                out.add_(term)
            for term, weight in zip(linear[1:], weights[1:]):
                out.addcmul_(term, weight)
        ctx.n_conv, ctx.n_linear = n_conv, len(linear)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(w, *linear)
        else:  # the linear terms are kept alive only for ∂L/∂w
            ctx.save_for_backward(w)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        w, *linear = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_w = _dots(grad, linear) if needs[0] else None
        grad_convs = [grad if needs[2 + j] else None for j in range(ctx.n_conv)]
        offset = 2 + ctx.n_conv
        grad_linear = [grad * weight if needs[offset + k] else None for k, weight in enumerate(w.unbind(0))]
        return (grad_w, None, *grad_convs, *grad_linear)


class SearchCell(nn.Module):
    """Mixed-op NB201 cell at C channels, stride 1. BN has affine=False; `track_running_stats` is a flag."""

    def __init__(self, C: int, *, track_running_stats: bool = False):
        super().__init__()
        self.C = C
        self.conv1x1 = nn.ModuleList()
        self.conv3x3 = nn.ModuleList()
        self.bn1x1 = nn.ModuleList()
        self.bn3x3 = nn.ModuleList()
        for source in _SOURCES:
            width = len(out_edges(source)) * C
            self.conv1x1.append(nn.Conv2d(C, width, 1, bias=False))
            self.conv3x3.append(nn.Conv2d(C, width, 3, padding=1, bias=False))
            self.bn1x1.append(nn.BatchNorm2d(width, affine=False, track_running_stats=track_running_stats))
            self.bn3x3.append(nn.BatchNorm2d(width, affine=False, track_running_stats=track_running_stats))

    def forward(self, x: torch.Tensor, weights: CellWeights | torch.Tensor) -> torch.Tensor:
        """`weights`: the 6×5 mixing weights (edges × ops), or a :class:`CellWeights` of them shared by many cells."""
        if not isinstance(weights, CellWeights):
            weights = CellWeights(weights)
        nodes = [x]
        conv_terms: dict[int, list[torch.Tensor]] = {t: [] for t in range(1, NUM_NODES)}
        linear_terms: dict[int, list[torch.Tensor]] = {t: [] for t in range(1, NUM_NODES)}
        for source in _SOURCES:
            h = nodes[source]
            relu = F.relu(h)
            count = _NUM_OUT[source]
            scale1x1, scale3x3 = weights.conv_scales(self.C, source)
            mixed = scaled_batch_norm(self.bn1x1[source], self.conv1x1[source](relu), scale1x1)
            # BN does not save its output for backward, so the 3×3 term may be added in place
            mixed = mixed.add_(scaled_batch_norm(self.bn3x3[source], self.conv3x3[source](relu), scale3x3))
            per_edge = mixed.chunk(count, dim=1) if count > 1 else (mixed,)
            pooled = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
            for k, (_, target) in enumerate(_OUT_EDGES[source]):
                conv_terms[target].append(per_edge[k])
                linear_terms[target] += [h, pooled]
            target = source + 1
            nodes.append(_NodeSum.apply(weights.linear(target), len(conv_terms[target]), *conv_terms[target],
                                        *linear_terms[target]))
        return nodes[-1]

    def forward_path(self, x: torch.Tensor, path: CellPath) -> torch.Tensor:
        """The discrete cell `path` on input `x`: only the ops it needs, with this cell's weights (see the module
        docstring); a cell whose output node gets no input returns zeros."""
        nodes: dict[int, torch.Tensor] = {0: x}
        relus: dict[int, torch.Tensor] = {}
        used: list[nn.BatchNorm2d] = []
        for target, terms in enumerate(path.terms, start=1):
            total = None
            for term in terms:
                h = nodes[term.source]
                if term.op == SKIP:
                    value = h
                elif term.op == AVG_POOL:
                    value = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
                else:
                    if term.source not in relus:
                        relus[term.source] = F.relu(h)
                    value = self._path_conv(relus[term.source], term, used)
                total = value if total is None else total + value
            if total is not None:
                nodes[target] = total
        for bn in dict.fromkeys(used):  # once per module and forward, as the supernet counts
            if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
        return nodes.get(NUM_NODES - 1, torch.zeros_like(x))

    def _path_conv(self, relu: torch.Tensor, term: PathTerm, used: list) -> torch.Tensor:
        """BN(conv(relu)) of one edge, with the edge's rows of its source's stacked conv weights and BN statistics."""
        conv = (self.conv1x1 if term.op == CONV_1X1 else self.conv3x3)[term.source]
        bn = (self.bn1x1 if term.op == CONV_1X1 else self.bn3x3)[term.source]
        rows = slice(term.k * self.C, (term.k + 1) * self.C)
        out = F.conv2d(relu, conv.weight[rows], padding=conv.padding)
        used.append(bn)
        track = bn.running_mean is not None and (not bn.training or bn.track_running_stats)
        use_batch_stats = bn.training or bn.running_mean is None
        return F.batch_norm(out, bn.running_mean[rows] if track else None, bn.running_var[rows] if track else None,
                            None, None, use_batch_stats, 0.0 if bn.momentum is None else bn.momentum, bn.eps)
