"""scripts/bench_step.py --space darts end to end at a tiny size, with a stand-in for DARTS' model_search.py that
calls .cuda() as DARTS' does (the real file is the user's; the project never vendors it)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from darts_tse.perf.darts_peer import PeerError, load_peer_network

REPO_ROOT = Path(__file__).resolve().parents[1]

FAKE_MODEL_SEARCH = '''
import torch
import torch.nn as nn
from torch.autograd import Variable
from operations import OPS
from genotypes import PRIMITIVES


class Network(nn.Module):
    def __init__(self, C, num_classes, layers, criterion):
        super().__init__()
        self.stem = OPS["stem"](C)
        self.classifier = nn.Linear(C, num_classes)
        self.alphas_normal = Variable(1e-3 * torch.randn(14, len(PRIMITIVES)).cuda(), requires_grad=True)
        self._arch_parameters = [self.alphas_normal]

    def arch_parameters(self):
        return self._arch_parameters

    def forward(self, x):
        return self.classifier(self.stem(x).mean((2, 3)) * self.alphas_normal.softmax(-1)[0, 0])
'''


@pytest.fixture
def fake_darts(tmp_path):
    folder = tmp_path / "cnn"
    folder.mkdir()
    (folder / "model_search.py").write_text(FAKE_MODEL_SEARCH)
    (folder / "operations.py").write_text("import torch.nn as nn\nOPS = {'stem': lambda C: nn.Conv2d(3, C, 3, padding=1)}\n")
    (folder / "genotypes.py").write_text("PRIMITIVES = ['none', 'skip_connect']\n")
    return folder / "model_search.py"


def test_peer_loader_redirects_cuda_and_freezes_alpha(fake_darts):
    tensor_cuda = torch.Tensor.cuda
    model = load_peer_network(fake_darts, 4, 10, 3, torch.device("cpu"))
    assert torch.Tensor.cuda is tensor_cuda  # restored
    assert model.training and not model.arch_parameters()[0].requires_grad
    assert model.arch_parameters()[0].device.type == "cpu"
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    (fake_darts.parent / "genotypes.py").unlink()
    with pytest.raises(PeerError, match="lacks genotypes.py"):
        load_peer_network(fake_darts, 4, 10, 3, torch.device("cpu"))


def _run(args, cwd):
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "bench_step.py"), "--space", "darts", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_bench_step_darts_space_writes_every_case(tmp_path, fake_darts):
    proc = _run(["--C", "4", "--layers", "3", "--batch-size", "2", "--image-size", "8", "--repeats", "1",
                 "--warmup", "0", "--threads", "1", "--partial-channels", "2", "--peer-darts", str(fake_darts),
                 "--out", "out.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["space"] == "darts" and result["config"]["layers"] == 3 and result["config"]["partial_channels"] == 2
    for case in ("weights_only", "darts_tse_joint", "pc_weights_only", "peer_darts_weights_only"):
        assert result[f"{case}_s"] > 0, case
        assert result["peak_mem_mb"][case] > 0, case
    assert result["ratios"]["ours_over_peer_time"] > 0
    assert "ours / DARTS: time" in proc.stdout


def test_bench_step_darts_space_refusals_are_one_line(tmp_path):
    for args, words in ((["--C", "16", "--partial-channels", "3"], "must divide --C 16"),
                        (["--cases", "darts"], "belong to --space nb201"),
                        (["--peer-darts", str(tmp_path / "nope.py")], "is not a file")):
        proc = _run(args, tmp_path)
        assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
