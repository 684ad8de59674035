"""Pickle-format data files as the original datasets ship them (CIFAR's python batches, NB201's ImageNet16): dicts
whose keys are Python-2 ``str``, for the tests that write tiny copies of them."""
import pickle
from pathlib import Path


def py2_pickle(entry: dict) -> bytes:
    """Pickle a dict whose keys are Python-2 `str` (SHORT_BINSTRING), like the original CIFAR / ImageNet16 files."""
    out = bytearray(b"\x80\x02}(")  # PROTO 2, EMPTY_DICT, MARK
    for key, value in entry.items():
        k = key.encode()
        out += b"U" + bytes([len(k)]) + k  # SHORT_BINSTRING: a py2 str, decoded with the loader's `encoding`
        out += pickle.dumps(value, protocol=2)[2:-1]  # the value's opcodes without PROTO and STOP
    return bytes(out + b"u.")  # SETITEMS, STOP


def write_py2_pickle(path: Path, entry: dict) -> None:
    """Write `entry` to `path` as :func:`py2_pickle` encodes it."""
    path.write_bytes(py2_pickle(entry))
