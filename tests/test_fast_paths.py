"""The fast paths (all off by default): bf16 autocast, a torch.compile'd mixed forward, data kept on the device,
cudnn.benchmark. On the CPU: bf16 stays within a stated tolerance of float32 on a tiny net, the compiled forward and
backward equal eager to float32 round-off (skipped with the reason when inductor cannot compile here), the settings
are validated and recorded. The CUDA-only checks (device-resident batches with no host synchronisation, CUDA graphs
through compile's reduce-overhead mode) skip cleanly without CUDA."""
import json
import os

import pytest
import torch
import torch.nn.functional as F

from darts_tse.config import NOT_SEARCH_RELEVANT, ConfigError, SearchConfig
from darts_tse.data import BatchStream, ImageSplit, load_search_data
from darts_tse.mixing import SoftmaxMixing, build_mixing
from darts_tse.perf import check_compiled_gradients
from darts_tse.search import build_components, configure_kernels, run_search
from darts_tse.space import COMPILE_CHECKED_TORCH, NB201SearchNetwork, compile_checked

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# bf16 keeps 8 bits of mantissa: on the tiny net below (C=8, N=1, batch 16, 16x16, at initialisation) the loss moves
# by ~1e-4 relative and the α gradient by ~20 % (relative L2), pointing the same way (cosine ~0.98); the bounds leave
# room for other CPUs' kernels. docs/benchmarks.md has a whole tiny search in both precisions.
BF16_LOSS_RTOL, BF16_ALPHA_GRAD_COSINE = 1e-2, 0.9


def _net(autocast_dtype=None, seed=0, mixing="softmax"):
    torch.manual_seed(seed)
    return NB201SearchNetwork(8, 1, 10, mixing=build_mixing(mixing), channels_last=True, autocast_dtype=autocast_dtype)


def _batch(seed=1, size=16, batch=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=g), torch.randint(0, 10, (batch,), generator=g)


def _loss_and_grads(model, x, y):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return logits, loss.detach(), model.alpha.grad.clone(), [p.grad.clone() for p in model.weight_parameters()]


def test_bf16_autocast_stays_within_tolerance_of_fp32_and_keeps_float32_outside_the_forward():
    x, y = _batch()
    fp32 = _net()
    bf16 = _net(torch.bfloat16)
    bf16.load_state_dict(fp32.state_dict())
    logits32, loss32, alpha32, weights32 = _loss_and_grads(fp32, x, y)
    logits16, loss16, alpha16, weights16 = _loss_and_grads(bf16, x, y)
    assert logits16.dtype == torch.float32, "logits come back as float32, so the loss is float32"
    assert alpha16.dtype == torch.float32 and all(g.dtype == torch.float32 for g in weights16)
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert not torch.equal(logits16, logits32), "the forward did run in bf16"
    assert abs(loss16 - loss32) <= BF16_LOSS_RTOL * loss32
    assert F.cosine_similarity(alpha16.flatten(), alpha32.flatten(), dim=0) > BF16_ALPHA_GRAD_COSINE
    # the discrete-path (one-shot) forward and evaluation run under autocast too
    with torch.no_grad():
        path_logits = bf16(x, path=(1, 2, 3, 4, 0, 1))
        bf16.eval()
        eval_logits = bf16(x)
    assert path_logits.dtype == eval_logits.dtype == torch.float32


def test_fp32_default_runs_no_autocast():
    model = _net()
    assert model.autocast_dtype is None
    x, _ = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a caller's autocast is not switched off by the model
        assert model(x).dtype == torch.bfloat16


def test_dirichlet_mixing_weights_are_sampled_in_float32_under_bf16():
    model = _net(torch.bfloat16, mixing="dirichlet")
    seen = []
    original = model.mixing.weights
    model.mixing.weights = lambda alpha, sample: seen.append(original(alpha, sample=sample)) or seen[-1]
    model(_batch()[0])
    assert seen and seen[0].dtype == torch.float32


def tiny(tmp_path, name, **overrides):
    values = dict(method="darts-tse", K=2, dataset="synthetic", epochs=2, batch_size=8, C=4, N=1, synthetic_samples=64,
                  synthetic_image_size=16, steps_per_epoch=4, out=str(tmp_path / name), wandb="disabled",
                  progress=False, device="cpu")
    return SearchConfig(**(values | overrides))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["darts", "drnas-tse"])
def test_a_bf16_search_runs_records_its_precision_and_stays_near_the_fp32_one(tmp_path, method):
    """Two tiny searches (2 epochs × 4 steps of batch 8) from the same seed: the weights' trajectories part a little
    with every step, so the supernet's epoch losses are held to 5 %, α to what its few Adam steps can move."""
    rows32 = run_search(tiny(tmp_path, "fp32", method=method))
    rows16 = run_search(tiny(tmp_path, "bf16", method=method, precision="bf16"))
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["precision"] == "bf16"
    for row32, row16 in zip(rows32, rows16):
        assert row16["train_loss"] == pytest.approx(row32["train_loss"], rel=5e-2)
        assert row16["valid_loss"] == pytest.approx(row32["valid_loss"], rel=5e-2)
    alpha = [json.loads((tmp_path / name / "genotype.json").read_text())["alpha"] for name in ("fp32", "bf16")]
    # 8 α steps of Adam at lr 3e-4 move α by at most ~2.4e-3; bf16's gradients may differ, not its step sizes
    assert max(abs(a - b) for r32, r16 in zip(*alpha) for a, b in zip(r32, r16)) < 5e-3


def test_fast_path_settings_are_validated_and_only_precision_changes_what_a_run_computes(tmp_path):
    with pytest.raises(ConfigError, match="unknown --precision 'fp16'; choose one of: fp32, bf16"):
        tiny(tmp_path, "a", precision="fp16").validate()
    with pytest.raises(ConfigError, match="unknown --compile 'fast'"):
        tiny(tmp_path, "a", compile="fast").validate()
    with pytest.raises(ConfigError, match="--hvp exact differentiates twice"):
        tiny(tmp_path, "a", method="darts", order=2, hvp="exact", compile="default").validate()
    tiny(tmp_path, "a", method="darts", order=2, hvp="finite-difference", compile="default").validate()
    assert {"compile", "cudnn_benchmark", "data_on_device"} <= NOT_SEARCH_RELEVANT
    assert "precision" not in NOT_SEARCH_RELEVANT
    base = tiny(tmp_path, "a")
    assert base.search_differences(tiny(tmp_path, "a", compile="default", data_on_device=True)) == []
    assert base.search_differences(tiny(tmp_path, "a", precision="bf16")) == ["precision: 'bf16' -> 'fp32'"]


def test_train_search_flags_fill_the_fast_path_settings():
    from darts_tse.cli.search import build_parser

    args = vars(build_parser().parse_args(["--precision", "bf16", "--compile", "reduce-overhead", "--cudnn-benchmark",
                                           "--data-on-device"]))
    args.pop("resume"), args.pop("overwrite")
    config = SearchConfig(**args)
    assert (config.precision, config.compile, config.cudnn_benchmark, config.data_on_device) == \
        ("bf16", "reduce-overhead", True, True)
    defaults = SearchConfig()
    assert (defaults.precision, defaults.compile, defaults.cudnn_benchmark, defaults.data_on_device) == \
        ("fp32", None, False, False)


def test_components_honour_the_fast_path_settings_on_the_cpu(tmp_path):
    config = tiny(tmp_path, "a", precision="bf16", data_on_device=True, cudnn_benchmark=True)
    before = torch.backends.cudnn.benchmark
    configure_kernels(config, torch.device("cpu"))
    assert torch.backends.cudnn.benchmark == before, "a CPU run leaves cudnn alone"
    parts = build_components(config, torch.device("cpu"))
    assert parts.model.autocast_dtype == torch.bfloat16
    assert parts.data.split("train", "cpu") is parts.data.train, "on the CPU the data is where it is already"


def _split(n=37, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageSplit(torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8),
                      torch.randint(0, 10, (n,), generator=g))


def _stream(split, device="cpu", augment=True):
    return BatchStream(split, 8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), augment=augment, seed=3, stream="t",
                       device=device)


def test_an_epochs_draws_made_at_once_equal_each_batch_alone():
    stream = _stream(_split())
    whole = list(stream.epoch(2))
    assert len(whole) == 5 and whole[-1][0].shape[0] == 5  # the short last batch has its own draws
    for index, (images, labels) in enumerate(whole):
        alone = stream.batch(2, index)
        assert torch.equal(images, alone[0]) and torch.equal(labels, alone[1])
    assert [torch.equal(a[0], b[0]) for a, b in zip(list(stream.epoch(2, start=3)), whole[3:])] == [True, True]


@CUDA
def test_data_kept_on_the_device_gives_the_same_batches_without_host_synchronisation():
    data = load_search_data("synthetic", None, synthetic_samples=80, synthetic_image_size=32, seed=0)
    cpu = list(data.stream("train", 16, seed=0, device="cpu").epoch(1))
    data.keep_on("cuda")
    assert data.split("train", "cuda").images.is_cuda and data.split("train", "cpu").images.device.type == "cpu"
    stream = data.stream("train", 16, seed=0, device="cuda")
    iterator = stream.epoch(1)
    first = next(iterator)  # the epoch's order and draws cross once, when it starts
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        rest = list(iterator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for (a, b), (c, d) in zip(cpu, [first, *rest]):
        assert torch.allclose(a, c.cpu(), atol=1e-6) and torch.equal(b, d.cpu())


@CUDA
def test_cudnn_benchmark_is_set_on_cuda_only_when_asked(tmp_path):
    before = torch.backends.cudnn.benchmark
    try:
        configure_kernels(tiny(tmp_path, "a", cudnn_benchmark=True), torch.device("cuda"))
        assert torch.backends.cudnn.benchmark is True
        configure_kernels(tiny(tmp_path, "a"), torch.device("cuda"))
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


def _compiled_equals_eager(device, mode, backend="inductor"):
    torch.manual_seed(0)
    eager = NB201SearchNetwork(4, 1, 10, mixing=SoftmaxMixing(), channels_last=True).to(device)
    compiled = NB201SearchNetwork(4, 1, 10, mixing=SoftmaxMixing(), channels_last=True).to(device)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile_mixed_forward(mode, backend=backend)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8, generator=g).to(device), torch.randint(0, 10, (4,), generator=g).to(device)
    try:
        results = [_loss_and_grads(model, x, y) for model in (eager, compiled, compiled)]  # twice: the cached graph
    except Exception as error:  # no C++ compiler, an unsupported platform: inductor cannot compile on this CPU
        if device.type == "cuda" or backend != "inductor":  # graph capture, and CUDA graphs on a GPU, must work
            raise
        pytest.skip(f"torch.compile cannot compile here: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    _, loss, alpha, weights = results[0]
    for _, loss_c, alpha_c, weights_c in results[1:]:
        assert torch.allclose(loss_c, loss, rtol=1e-5, atol=1e-6)
        assert torch.allclose(alpha_c, alpha, rtol=1e-4, atol=1e-6)
        for w, w_c in zip(weights, weights_c):
            assert torch.allclose(w_c, w, rtol=1e-4, atol=1e-5)
    compiled.load_state_dict(eager.state_dict())  # the compiled net ran twice: its stem BN's running statistics moved
    with torch.no_grad():  # evaluation mode (its own graph) and the discrete path (always eager)
        eager.eval(), compiled.eval()
        assert torch.allclose(compiled(x), eager(x), rtol=1e-4, atol=1e-5)
        assert torch.equal(compiled(x, path=(2, 3, 1, 4, 0, 2)), eager(x, path=(2, 3, 1, 4, 0, 2)))


@pytest.mark.slow
def test_compiled_mixed_forward_traces_the_fused_cell_and_equals_eager():
    """TorchDynamo + AOTAutograd (backend aot_eager: the graph capture of torch.compile, the fused cell's custom
    autograd function included, without inductor's code generation): forward, ∂L/∂α and every weight gradient equal
    eager to float32 round-off."""
    _compiled_equals_eager(torch.device("cpu"), None, backend="aot_eager")


INDUCTOR_NOTE = ("the first inductor compile of this graph takes minutes on 2 CPU cores (measured here: 462 s cold "
                 "under load, 11 s from inductor's cache); set DARTS_TSE_TEST_INDUCTOR=1 to run it")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DARTS_TSE_TEST_INDUCTOR"), reason=INDUCTOR_NOTE)
def test_inductor_compiled_mixed_forward_equals_eager_on_the_cpu():
    """What --compile default runs on the CPU: inductor's kernels, to float32 round-off."""
    _compiled_equals_eager(torch.device("cpu"), None)


@CUDA
@pytest.mark.slow
def test_compiled_mixed_forward_with_cuda_graphs_equals_eager():
    """What --compile reduce-overhead runs on CUDA: inductor's kernels replayed as CUDA graphs."""
    _compiled_equals_eager(torch.device("cuda"), "reduce-overhead")


@pytest.mark.parametrize("backend, mixing", [
    ("eager", "softmax"),
    pytest.param("aot_eager", "softmax", marks=pytest.mark.slow),
    pytest.param("aot_eager", "dirichlet", marks=pytest.mark.slow),
])
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "nchw"])
def test_compiled_gradients_equal_eager_in_a_single_graph(backend, mixing, channels_last):
    """The check behind space.COMPILE_CHECKED_TORCH: fullgraph=True (a graph break raises), one graph over two
    training steps with the compiled copy stepping first (no recompile: the cell's index cache is not written from
    the graph), and ∂L/∂α and the stem's gradient (behind every cell) equal eager. On torch 2.11 the in-place node
    sums gave α a gradient of exactly 0 (hence the norm), and channels-last broke the graph on 2.11 and 2.13."""
    result = check_compiled_gradients(backend=backend, channels_last=channels_last, mixing=mixing)
    assert result.graphs == 1, result.to_dict()
    assert result.alpha_grad_norm > 1e-3, result.to_dict()
    assert result.passed, result.to_dict()


def test_compile_refuses_a_torch_whose_compiled_gradients_were_not_checked(tmp_path, monkeypatch):
    assert compile_checked("2.11.0+cu130") and compile_checked("2.14.1") and not compile_checked("2.12.0")
    assert compile_checked(), f"the running torch {torch.__version__} is checked: add it to COMPILE_CHECKED_TORCH"
    monkeypatch.setattr(torch, "__version__", "2.12.0")
    with pytest.raises(ConfigError, match=r"^--compile: torch 2\.12\.0 is not one on which .* "
                                          f"\\(torch {', '.join(COMPILE_CHECKED_TORCH)}\\); drop --compile"):
        build_components(tiny(tmp_path, "a", compile="default"), torch.device("cpu"))


def test_deterministic_sets_the_algorithms_and_cublas_workspace_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="--deterministic needs cuDNN's fixed convolution algorithms"):
        tiny(tmp_path, "a", deterministic=True, cudnn_benchmark=True).validate()
    try:
        configure_kernels(tiny(tmp_path, "a", deterministic=True), torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        configure_kernels(tiny(tmp_path, "a"), torch.device("cpu"))
    assert not torch.are_deterministic_algorithms_enabled()
    assert "deterministic" in NOT_SEARCH_RELEVANT and tiny(tmp_path, "a").to_dict()["deterministic"] is False
    from darts_tse.cli.search import build_parser

    assert build_parser().parse_args(["--deterministic"]).deterministic is True


@pytest.mark.parametrize("capability, warned", [((7, 5), True), ((8, 0), False)])
def test_cuda_n_becomes_the_current_device_and_bf16_before_ampere_is_one_warning(tmp_path, monkeypatch, caplog,
                                                                                 capability, warned):
    """Without a GPU: the CUDA calls are stand-ins that record what configure_kernels asks of them."""
    current = []
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    try:
        with caplog.at_level("WARNING"):
            configure_kernels(tiny(tmp_path, "a", precision="bf16"), torch.device("cuda:1"))
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before
    assert current == [torch.device("cuda:1")]
    lines = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert lines == (["--precision bf16 on Tesla T4 (compute capability 7.5 < 8.0) runs emulated, slower than fp32; "
                      "drop --precision bf16 on this GPU"] if warned else [])


@pytest.mark.slow
def test_a_compiled_alpha_only_pass_computes_only_alphas_gradient(tmp_path):
    """DARTS' first-order α pass under torch.compile: its backward graph returns one gradient (the mixing weights',
    which lead to α), not one per weight; the weight step's graph returns the weights' and none for α."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    from darts_tse.architects import ValidationArchitect, build_arch_optimizer
    from darts_tse.training import WeightTrainer

    gradients_returned = []

    def backward_compiler(graph_module, example_inputs):
        outputs = graph_module.graph.output_node().args[0]
        gradients_returned.append(sum(output is not None for output in outputs))
        return make_boxed_func(graph_module.forward)

    torch._dynamo.reset()
    model = _net()
    model.compile_mixed_forward(backend=aot_autograd(fw_compiler=lambda gm, _: make_boxed_func(gm.forward),
                                                     bw_compiler=backward_compiler), fullgraph=True)
    trainer = WeightTrainer(model, torch.optim.SGD(model.weight_parameters(), lr=0.01))
    valid = iter([_batch(seed=2)] * 2)
    architect = ValidationArchitect(model, trainer, build_arch_optimizer(model), valid)
    list(architect.train_epoch([_batch(seed=3), _batch(seed=4)]))
    weights = len(model.weight_parameters())
    assert sorted(gradients_returned) == [1, weights], gradients_returned
    assert all(p.requires_grad for p in model.parameters()), "the weights need gradients again after the α pass"
