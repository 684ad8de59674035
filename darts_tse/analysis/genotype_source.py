"""Where the genotype of a training run comes from (torch-free): a run directory (a search's final genotype, or a
training run's genotype), a file (``genotype.json`` of a run, ``export_genotype.py``'s JSON or string output, a DARTS
genotype dict), an NB201 string or index, or DARTS' ``Genotype(...)`` literal (or a name: DARTS_V1, DARTS_V2).

Every failure is one :class:`GenotypeSourceError` line that names what was given and what is accepted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TrainConfig
from ..darts_space import genotype as darts_genotype
from ..space.genotype import NUM_ARCHITECTURES, Genotype, GenotypeError
from .runs import RunDirError, genotype_entry, read_config, read_json_object
from .train_runs import RUN_LOCAL

ACCEPTED = ("a run directory, a genotype file (genotype.json, export_genotype.py's output), an NB201 string "
            "(|op~0|+|op~0|op~1|+|op~0|op~1|op~2|) or index (0..15624), or a DARTS Genotype(...) literal or name "
            "(DARTS_V1, DARTS_V2)")
NAMED_DARTS_GENOTYPES = {"DARTS_V1": darts_genotype.DARTS_V1, "DARTS_V2": darts_genotype.DARTS_V2}
DATA_SETTINGS = ("dataset", "data_dir", "image_size", "synthetic_samples", "synthetic_image_size")  # passed on
NOT_TRAINING = RUN_LOCAL | set(DATA_SETTINGS) | {"kind", "genotype", "space"}  # what a training run's source keeps


class GenotypeSourceError(ValueError):
    """A genotype that cannot be read or parsed; the message names the source and what is accepted."""


@dataclass(frozen=True)
class GenotypeSource:
    """A parsed genotype: its space ("nb201" or "darts"), its canonical text (NB201 string or DARTS literal), where
    it came from, the data settings of the run directory it came from (empty otherwise) and, from a training run's
    directory, its training settings: every setting that groups its seeds in compare_runs (protocol, C, N, layers,
    epochs, batch size, lr, ...; not the seed, --out, device, threads, W&B, progress)."""

    space: str
    genotype: str
    source: str
    data: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


def resolve_genotype(text: str) -> GenotypeSource:
    """The genotype `text` names (see the module docstring)."""
    text = str(text).strip()
    if not text:
        raise GenotypeSourceError(f"the genotype is empty; give {ACCEPTED}")
    path = Path(text).expanduser()
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError:  # e.g. a DARTS literal longer than a file name may be
        is_dir = is_file = False
    if is_dir:
        return _from_run(path)
    if is_file:
        return _from_file(path)
    try:
        space, genotype = parse_genotype_text(text)
    except GenotypeSourceError as error:
        if "/" in text or text.endswith((".json", ".txt")):
            raise GenotypeSourceError(f"no such file or directory: {text}; give {ACCEPTED}") from error
        raise
    return GenotypeSource(space, genotype, "command line")


def parse_genotype_text(text: str) -> tuple[str, str]:
    """(space, canonical text) of an NB201 string or index or a DARTS literal or name."""
    text = text.strip()
    try:
        if text.isascii() and text.isdigit():
            index = int(text)
            if not 0 <= index < NUM_ARCHITECTURES:
                raise GenotypeSourceError(f"NB201 index {index} is out of range; NB201 has 0..{NUM_ARCHITECTURES - 1}")
            return "nb201", Genotype.from_index(index).to_str()
        if text.startswith("|"):
            return "nb201", Genotype.parse(text).to_str()
        if text in NAMED_DARTS_GENOTYPES:
            return "darts", NAMED_DARTS_GENOTYPES[text].to_str()
        if text.startswith("Genotype"):
            return "darts", darts_genotype.DartsGenotype.from_str(text).to_str()
    except (GenotypeError, darts_genotype.GenotypeError) as error:
        raise GenotypeSourceError(f"bad genotype: {error}") from error
    shown = text if len(text) <= 60 else text[:57] + "..."
    raise GenotypeSourceError(f"cannot read a genotype from {shown!r}; give {ACCEPTED}")


def _from_run(path: Path) -> GenotypeSource:
    """A search's final genotype (genotypes.jsonl / genotype.json), or a training run's genotype, with its data."""
    try:
        config = read_config(path)
        data = {key: config[key] for key in DATA_SETTINGS if config.get(key) is not None}
        if config.get("kind") == "train":
            space, genotype = parse_genotype_text(str(config.get("genotype", "")))
            training = {key: value for key, value in TrainConfig.from_dict(config).to_dict().items()
                        if key not in NOT_TRAINING and key in config}
            return GenotypeSource(space, genotype, f"training run {path}", data, training)
        if config.get("kind") == "oneshot":
            raise GenotypeSourceError(f"{path} is a one-shot supernet's run, which finds no genotype; rank its "
                                      f"subnetworks with scripts/rank_subnets.py, then give one of them")
        entry = genotype_entry(path)
    except RunDirError as error:
        raise GenotypeSourceError(f"{error}") from error
    space, genotype = parse_genotype_text(str(entry["genotype"]))
    return GenotypeSource(space, genotype, f"search run {path}, epoch {entry['epoch']} (its final genotype)", data)


def _from_file(path: Path) -> GenotypeSource:
    """genotype.json / export_genotype.py's JSON (a "genotype" string), a DARTS genotype dict, or a text file."""
    try:
        raw = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise GenotypeSourceError(f"cannot read genotype file {path}: {error}") from error
    if raw.startswith("{"):
        try:
            value = read_json_object(path, written_by="export_genotype.py or a run")
        except RunDirError as error:
            raise GenotypeSourceError(str(error)) from error
        if isinstance(value.get("genotype"), str):
            space, genotype = parse_genotype_text(value["genotype"])
        elif isinstance(value.get("genotype"), dict) or {"normal", "reduce"} <= set(value):
            try:
                genotype = darts_genotype.DartsGenotype.from_dict(value.get("genotype") or value).to_str()
            except darts_genotype.GenotypeError as error:
                raise GenotypeSourceError(f"{path}: bad DARTS genotype: {error}") from error
            space = "darts"
        else:
            raise GenotypeSourceError(f"{path} holds no genotype (no 'genotype' key, no DARTS 'normal'/'reduce'); "
                                      f"give {ACCEPTED}")
        return GenotypeSource(space, genotype, f"file {path}")
    try:
        json.loads(raw)  # a JSON string, e.g. "|...|" written by a JSON tool
        raw = json.loads(raw) if raw.startswith('"') else raw
    except ValueError:
        pass
    space, genotype = parse_genotype_text(raw)
    return GenotypeSource(space, genotype, f"file {path}")
