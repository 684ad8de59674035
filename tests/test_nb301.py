"""The NB301 surrogate backend: the code table against encoding_v2.json, the README's checked values, batching,
refusals. Reads ../shared/nb301/ beside the checkout (or $DARTS_TSE_NB301_DIR) and skips when it is absent."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from darts_tse.darts_space import DARTS_V1, DARTS_V2, DartsGenotype
from darts_tse.nb301 import NB301_LABEL, NB301Error, encode, load_benchmark, nb301_label
from darts_tse.nb301.encoding import COLUMNS, PREFIX, code_table

REPO_ROOT = Path(__file__).resolve().parents[1]
NB301_DIR = Path(os.environ.get("DARTS_TSE_NB301_DIR", REPO_ROOT.parent / "shared" / "nb301"))


def _need(name):
    path = NB301_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/nb301 is provided beside the checkout in CI)")
    return path


@pytest.fixture(scope="module")
def surrogate():
    return load_benchmark(_need("model_v2.onnx"))


def uniform(op):
    cell = [(op, j) for _ in range(4) for j in (0, 1)]
    return DartsGenotype(normal=cell, reduce=cell)


def test_code_table_equals_encoding_json():
    with open(_need("encoding_v2.json")) as handle:
        assert code_table() == json.load(handle)
    assert len(COLUMNS) == 34 and all(PREFIX + c in code_table() for c in COLUMNS)


def test_encoding_of_darts_v2_by_hand():
    row = encode(DARTS_V2)
    assert row.dtype == np.int32 and row.shape == (34,)
    normal = dict(zip(COLUMNS, row))
    # normal: node 0 ← 0,1 (sep3, edges 0,1); node 1 ← 0,1 (edges 2,3); node 2 ← 1 sep3, 0 skip (edges 6,5);
    # node 3 ← 0 skip, 2 dil3 (edges 9, 11). sep_conv_3x3 = 5, skip_connect = 7, dil_conv_3x3 = 2, #na# = 0.
    assert [normal[f"edge_normal_{e}"] for e in range(14)] == [5, 5, 5, 5, 0, 7, 5, 0, 0, 7, 0, 2, 0, 0]
    assert [normal[f"inputs_node_normal_{n}"] for n in (3, 4, 5)] == [1, 1, 2]  # '0_1', '0_1', '0_2'
    # reduce: node 1 ← 2 skip, 1 max ('1_2' → 3); node 2 ← 0 max, 2 skip ('0_2' → 2); node 3 ← 2 skip, 1 max ('1_2' → 5)
    assert [normal[f"inputs_node_reduce_{n}"] for n in (3, 4, 5)] == [3, 2, 5]


@pytest.mark.parametrize("genotype, accuracy, loss", [
    (DARTS_V2, 92.91, 0.2607), (DARTS_V1, 92.55, 0.2687), (uniform("skip_connect"), 89.92, 0.3488),
    (uniform("sep_conv_3x3"), 93.02, 0.2683), (uniform("max_pool_3x3"), 88.07, 0.4058)])
def test_readme_checked_values(surrogate, genotype, accuracy, loss):
    result = surrogate.query(genotype)
    assert round(result.valid_accuracy, 2) == accuracy and round(result.valid_loss, 4) == loss
    assert result.label == NB301_LABEL == "NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98"
    assert result.epoch == 98 and surrogate.verified


def test_epochs_literals_and_batching(surrogate):
    early = surrogate.query(DARTS_V2.to_str(), epoch=1)
    assert round(early.valid_accuracy, 2) == 61.42 and early.label == nb301_label(1)
    rng = np.random.default_rng(0)
    cells = [DartsGenotype.random(rng) for _ in range(1100)]  # two session runs
    many = surrogate.query_many(cells + [DARTS_V2])
    assert len(many) == 1101 and many[-1] == surrogate.query(DARTS_V2)
    one_by_one = load_benchmark(NB301_DIR / "model_v2.onnx")
    assert [one_by_one.query(c) for c in cells[:5]] == many[:5]  # batched = unbatched
    accuracies = [r.valid_accuracy for r in many]
    assert 88 < min(accuracies) and max(accuracies) < 94 and np.std(accuracies) > 0.1
    # a node's two pairs in either order are the same cell
    assert surrogate.query(DARTS_V1.canonical()) == surrogate.query(DARTS_V1)
    with pytest.raises(NB301Error, match="epochs 1..98"):
        surrogate.query(DARTS_V2, epoch=99)
    with pytest.raises(NB301Error, match="NB201"):
        surrogate.query(5)


def test_refuses_what_is_not_the_surrogate(tmp_path):
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"not an onnx file at all")
    with pytest.raises(NB301Error, match="not an ONNX model") as info:
        load_benchmark(not_onnx)
    assert "\n" not in str(info.value)
    with pytest.raises(NB301Error, match="NB201 benchmark"):
        load_benchmark(tmp_path)
    table = tmp_path / "nb201.csv"
    table.write_text("index,arch\n")
    with pytest.raises(NB301Error, match="NB201 benchmark"):
        load_benchmark(table)
    with pytest.raises(NB301Error, match="does not exist"):
        load_benchmark(tmp_path / "missing.onnx")


def _pb(number, value):
    """One protobuf field: an int (varint), bytes/str (length-delimited) or a list of fields (a message)."""
    def varint(n):
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    payload = value.encode() if isinstance(value, str) else b"".join(value) if isinstance(value, list) else value
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _identity_model():
    """An ONNX ModelProto y = Identity(x), x and y float [batch, 3], written field by field (onnx.proto numbers)."""
    def value_info(name):
        shape = [_pb(1, [_pb(2, "batch")]), _pb(1, [_pb(1, 3)])]
        return [_pb(1, name), _pb(2, [_pb(1, [_pb(1, 1), _pb(2, shape)])])]
    node = [_pb(1, "x"), _pb(2, "y"), _pb(4, "Identity")]
    graph = [_pb(1, node), _pb(2, "g"), _pb(11, value_info("x")), _pb(12, value_info("y"))]
    return _pb(1, 7) + _pb(7, graph) + _pb(8, [_pb(1, ""), _pb(2, 13)])


def test_refuses_an_onnx_model_with_other_inputs(tmp_path):
    path = tmp_path / "other.onnx"
    path.write_bytes(_identity_model())
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]  # a valid ONNX model, just not the surrogate
    with pytest.raises(NB301Error, match="not the NB301 surrogate") as info:
        load_benchmark(path)
    assert "\n" not in str(info.value)
