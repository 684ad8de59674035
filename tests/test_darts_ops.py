"""The DARTS-space ops: structure, shapes, the affine switch, the search network's pool BN."""
import pytest
import torch
from torch import nn

from darts_tse.darts_space import DARTS_OPS
from darts_tse.darts_space.ops import DepthwiseConv2d, DilConv, FactorizedReduce, ReLUConvBN, SepConv, Zero, make_op


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_keeps_channels_and_divides_size_by_stride(name, stride):
    torch.manual_seed(0)
    op = make_op(name, 4, stride, affine=False, pool_bn=True)
    out = op(torch.randn(2, 4, 8, 8))
    assert out.shape == (2, 4, 8 // stride, 8 // stride)
    assert (out == 0).all() == (name == "none")


def test_sep_conv_is_two_blocks_only_the_first_strided():
    op = make_op("sep_conv_5x5", 16, 2, affine=False)
    assert isinstance(op, SepConv) and len(op) == 2
    convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1), (1, 1)]
    assert [c.kernel_size for c in convs] == [(5, 5), (1, 1), (5, 5), (1, 1)]
    assert [c.groups for c in convs] == [16, 1, 16, 1]
    assert all(c.dilation == (1, 1) and c.bias is None for c in convs)
    assert n_params(op) == 2 * (16 * 25 + 16 * 16)  # affine=False: BN has no weights
    assert n_params(make_op("sep_conv_3x3", 16, 1, affine=True)) == 2 * (16 * 9 + 16 * 16 + 2 * 16)
    kinds = [type(m) for m in op[0]]
    assert kinds == [nn.ReLU, DepthwiseConv2d, nn.Conv2d, nn.BatchNorm2d] and issubclass(DepthwiseConv2d, nn.Conv2d)


def test_dil_conv_is_one_dilated_block():
    op = make_op("dil_conv_5x5", 16, 1, affine=False)
    assert isinstance(op, DilConv) and [type(m) for m in op] == [nn.ReLU, DepthwiseConv2d, nn.Conv2d, nn.BatchNorm2d]
    assert op[1].dilation == (2, 2) and op[1].padding == (4, 4) and op[1].groups == 16
    assert n_params(op) == 16 * 25 + 16 * 16


def test_affine_and_running_stats_switches_reach_every_bn():
    for affine in (False, True):
        for track in (False, True):
            op = make_op("sep_conv_3x3", 4, 2, affine=affine, track_running_stats=track)
            bns = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
            assert len(bns) == 2 and all(b.affine == affine and b.track_running_stats == track for b in bns)
    fr = make_op("skip_connect", 4, 2, affine=True)
    assert isinstance(fr, FactorizedReduce) and fr.bn.affine


def test_pools_take_bn_only_in_the_search_network():
    search = make_op("max_pool_3x3", 4, 1, affine=False, pool_bn=True)
    assert isinstance(search, nn.Sequential) and isinstance(search[1], nn.BatchNorm2d) and not search[1].affine
    evaluation = make_op("avg_pool_3x3", 4, 1, affine=True)
    assert isinstance(evaluation, nn.AvgPool2d)
    x = torch.ones(1, 1, 4, 4)
    assert torch.equal(evaluation(x), x)  # padding excluded from the average: a constant image stays constant


def test_skip_connect_and_zero():
    x = torch.randn(2, 4, 8, 8)
    assert make_op("skip_connect", 4, 1, affine=False)(x) is x
    assert isinstance(make_op("none", 4, 2, affine=False), Zero)
    assert torch.equal(Zero(2)(x), torch.zeros(2, 4, 4, 4))


def test_factorized_reduce_shifts_its_second_half():
    torch.manual_seed(0)
    fr = FactorizedReduce(3, 6, affine=False, track_running_stats=False)
    x = torch.randn(2, 3, 8, 8)
    relu = x.relu()
    raw = torch.cat([nn.functional.conv2d(relu[:, :, ::2, ::2], fr.conv_1.weight),
                     nn.functional.conv2d(relu[:, :, 1::2, 1::2], fr.conv_2.weight)], dim=1)
    expected = nn.functional.batch_norm(raw, None, None, training=True)
    torch.testing.assert_close(fr(x), expected)
    with pytest.raises(ValueError, match="even"):
        FactorizedReduce(3, 5)


def test_relu_conv_bn_and_refusals():
    op = ReLUConvBN(8, 4, 1, 1, 0, affine=False)
    assert [type(m) for m in op] == [nn.ReLU, nn.Conv2d, nn.BatchNorm2d] and n_params(op) == 32
    with pytest.raises(ValueError, match="unknown DARTS op"):
        make_op("conv_7x1_1x7", 4, 1, affine=False)
    with pytest.raises(ValueError, match="stride 1 or 2"):
        make_op("sep_conv_3x3", 4, 3, affine=False)


@pytest.mark.parametrize("kernel, dilation, stride, size", [(3, 1, 1, 6), (5, 1, 2, 6), (3, 2, 1, 5), (5, 2, 2, 7)])
def test_depthwise_conv_fast_backward_is_exact(kernel, dilation, stride, size):
    """The CPU backward of the depthwise convs (flipped/transposed conv for ∂x, batch-as-channels conv for ∂w) and its
    double backward (exact HVPs differentiate through it) against torch's own conv2d, in float64."""
    from darts_tse.darts_space.ops import _DepthwiseConvFn

    torch.manual_seed(0)
    padding = dilation * (kernel // 2)
    conv = DepthwiseConv2d(3, kernel, stride, padding, dilation).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_()

    def ours(a, b):
        return _DepthwiseConvFn.apply(a, b, stride, padding, dilation)

    def native(a, b):
        return nn.functional.conv2d(a, b, None, stride, padding, dilation, 3)

    out = native(x, w)
    v, u, z = torch.randn_like(out), torch.randn_like(x), torch.randn_like(w)
    results = []
    for f in (ours, native):
        y = f(x, w)
        gx, gw = torch.autograd.grad((y * v).sum(), (x, w), create_graph=True)
        hx, hw = torch.autograd.grad((gx * u).sum() + (gw * z).sum(), (x, w), allow_unused=True)
        results.append((y, gx, gw, hx, hw))
    for mine, theirs in zip(*results):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10)
    assert type(conv(x).grad_fn).__name__ == "_DepthwiseConvFnBackward"
