"""What W&B's offline run files really hold: the epochs a killed or finished segment wrote to disk.

W&B stores an offline run as a transaction log, ``wandb/offline-run-*/run-<id>.wandb``, in LevelDB's log format:
a 7-byte file header (``:W&B``, then version bytes), then 32 KiB blocks of chunks, each with a 7-byte header
(CRC-32 of the type byte and the payload, payload length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4; little-endian);
a record is a serialised ``wandb_internal_pb2.Record``. W&B's writer is asynchronous and buffered, so a process
killed with SIGKILL may leave fewer epochs on disk than it handed to ``run.log``, and a torn last chunk; reading
stops at the first chunk whose length or CRC does not check out.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

MAGIC = b":W&B"
FILE_HEADER = 7
BLOCK = 32 * 1024
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class UnknownWandbFormat(ValueError):
    """A file that is not a W&B transaction log this reader understands."""


def read_payloads(path: str | Path) -> list[bytes]:
    """The complete, checksum-verified records of one ``.wandb`` file, as serialised protobuf payloads."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < FILE_HEADER:  # created, killed before its header was written
        return []
    if data[:len(MAGIC)] != MAGIC:
        raise UnknownWandbFormat(f"{path} does not start with {MAGIC!r}")
    payloads, pending, position = [], None, FILE_HEADER
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < CHUNK_HEADER.size:  # the block's trailer padding
            position += left_in_block
            continue
        crc, length, kind = CHUNK_HEADER.unpack_from(data, position)
        if kind == 0 and length == 0:  # zero padding to the end of the block
            position += left_in_block
            continue
        start = position + CHUNK_HEADER.size
        chunk = data[start:start + length]
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            break  # a torn write: nothing after it can be trusted
        position = start + length
        if kind == FULL:
            payloads.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind in (MIDDLE, LAST):
            if pending is None:  # a continuation without its start: corrupt from here on
                break
            pending += chunk
            if kind == LAST:
                payloads.append(pending)
                pending = None
        else:
            raise UnknownWandbFormat(f"{path}: chunk type {kind} at byte {position - length - CHUNK_HEADER.size}")
    return payloads


def read_records(path: str | Path) -> list:
    """The ``wandb_internal_pb2.Record`` objects of one ``.wandb`` file (needs the wandb package)."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    records = []
    for payload in read_payloads(path):
        record = wandb_internal_pb2.Record()
        try:
            record.ParseFromString(payload)
        except DecodeError as error:  # a checksum-verified record this wandb version cannot parse
            raise UnknownWandbFormat(f"{path}: {error}") from error
        records.append(record)
    return records


OFFLINE_SEGMENT_GLOB = "offline-run-*"  # W&B's folder of one offline segment, named by its start time


def offline_segments(wandb_dir: str | Path, run_id: str) -> list[Path]:
    """Every offline segment file of run `run_id` under `wandb_dir` (one per process that logged to it), oldest first."""
    return sorted(Path(wandb_dir).glob(f"{OFFLINE_SEGMENT_GLOB}/run-{run_id}.wandb"))


def last_logged_step(wandb_dir: str | Path, run_id: str) -> int:
    """The highest history step of run `run_id` on disk in its offline segments, or -1 if none holds one."""
    steps = [record.history.step.num for path in offline_segments(wandb_dir, run_id) for record in read_records(path)
             if record.WhichOneof("record_type") == "history"]
    return max(steps, default=-1)
