"""A straightforward per-edge NB201 cell that reuses the fused cell's weights: the oracle for the fast supernet."""
import torch
import torch.nn.functional as F

from darts_tse.space.cell import SearchCell, out_edges
from darts_tse.space.genotype import EDGES, OPS


def edge_op(cell: SearchCell, x: torch.Tensor, edge: int, op: str) -> torch.Tensor:
    """Output of `op` on `edge` computed alone, with the slice of the fused weights that belongs to that edge."""
    target, source = EDGES[edge]
    k = [e for e, _ in out_edges(source)].index(edge)
    C = cell.C
    if op == "none":
        return torch.zeros_like(x)
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    conv = cell.conv1x1[source] if op == "nor_conv_1x1" else cell.conv3x3[source]
    weight = conv.weight[k * C:(k + 1) * C]
    out = F.conv2d(F.relu(x), weight, padding=weight.shape[-1] // 2)
    bn = (cell.bn1x1 if op == "nor_conv_1x1" else cell.bn3x3)[source]
    if not cell.training and bn.track_running_stats:  # eval mode: this edge's slice of the running statistics
        return F.batch_norm(out, bn.running_mean[k * C:(k + 1) * C], bn.running_var[k * C:(k + 1) * C],
                            training=False, eps=1e-5)
    return F.batch_norm(out, None, None, training=True, eps=1e-5)


def reference_cell_forward(cell: SearchCell, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    nodes = [x]
    for target in range(1, 4):
        total = 0
        for source in range(target):
            edge = EDGES.index((target, source))
            total = total + sum(mix[edge, i] * edge_op(cell, nodes[source], edge, op) for i, op in enumerate(OPS))
        nodes.append(total)
    return nodes[-1]


def reference_forward(model, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    out = model.stem(x)
    for layer in model.layers:
        out = reference_cell_forward(layer, out, mix) if isinstance(layer, SearchCell) else layer(out)
    return model.classifier(model.head(out))
