"""Self-contained HDF5 checkpoints: Keras weights plus everything needed to use them.

A checkpoint is a Keras ``.weights.h5`` file with one extra group, ``lstm_music``, holding a JSON
document (`Metadata`: format tag, vocabularies, model configuration, what the music was read as,
what sampling draws from, a training summary) and, in older checkpoints, the encoded training split
(for the n-gram baseline; now a file beside them). Generation and evaluation need nothing else.
Files are written to a temporary name, flushed and renamed, so a checkpoint under its final name
is always complete. h5py is imported when a file is opened, so that commands which only name a
checkpoint's errors start without it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import import_keras
from ..data.instruments import PIANO, instrument_code, instrument_token
from ..data.preparation import OLD_REPRESENTATION
from ..data.vocab import Vocabulary, vocabularies_from_json
from ..files import forget, reason, scratch_prefix, write_atomically

if TYPE_CHECKING:
    import keras

FORMAT = "lstm_music-checkpoint/1"
GROUP = "lstm_music"
BEST = "best.weights.h5"
LATEST = "latest.weights.h5"  # the run's state after its last epoch, optimizer included: what --resume wants
OPTIMIZER = "optimizer"
BASE = "base"  # the name of the shipped base model, as `--checkpoint` or `--init-from` takes it
BASE_RUN = Path(__file__).resolve().parents[2] / "weights" / BASE  # where the repository ships it
TRAIN_ROWS = "train_rows.npy"


class CheckpointError(Exception):
    """A path that is not a usable checkpoint of this toolkit; the message says why."""


@dataclass
class Metadata:
    """What a checkpoint records beside its weights: one JSON document tagged `FORMAT` (`to_dict`,
    `from_dict`). A field that a checkpoint made before it lacks takes the default that describes
    such a checkpoint (whole-chord tokens in the pieces' own keys, one instrument, no meter, no styles)."""

    vocabularies: dict[str, Any]  # `vocab.vocabularies_to_json`
    model: dict[str, Any]  # `model.ModelConfig.to_dict`
    representation: str = OLD_REPRESENTATION
    common_key: bool = False
    instruments: bool = False  # a fourth stream (its vocabulary is in `vocabularies`)
    plays_as: dict[int, int] = field(default_factory=dict)  # instruments played as another (too rare to learn)
    plays: int = PIANO  # the most common instrument, which a model without the fourth stream plays on
    meters: list[str] = field(default_factory=list)  # the time signatures the model reads; none: no meter input
    piece_meters: list[str] = field(default_factory=list)  # each training piece's main one, for generation to draw
    styles: list[str] = field(default_factory=list)  # style index i + 1 is styles[i]; 0 is none
    style_pieces: dict[str, int] = field(default_factory=dict)  # training pieces per style
    drums: bool = False
    preset: str | None = None
    sequence_length: int | None = None
    parser: dict[str, Any] | None = None  # `corpus.PARSER_SETTINGS` the pieces were read with
    min_count: int = 2
    median_bpm: float | None = None
    training: dict[str, Any] = field(default_factory=dict)  # the run's data and settings, as a record
    train_rows: dict[str, Any] | None = None  # the file of the encoded training split: name, rows, SHA-256
    registers: list[list[float]] | None = None  # each training piece's register, for generation to draw
    register_styles: list[int] | None = None  # the style of each of `registers`
    register_margins: list[float] | None = None  # the pitch window (`streams.register_margins`)
    repeat_weights: dict[str, list[float]] | None = None  # the repeat memory's, fitted on the validation pieces
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def train_pieces(self) -> list[str]:
        """The paths of the training split's pieces."""
        return self.training.get("train_pieces", [])

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, meter and style fields grouped as stored, instruments as their tokens."""
        flat = {f.name: getattr(self, f.name) for f in fields(self)}
        flat["plays_as"] = {instrument_token(a): instrument_token(b) for a, b in self.plays_as.items()}
        flat["plays"] = instrument_token(self.plays)
        grouped = {"meters": {"tokens": flat.pop("meters"), "pieces": flat.pop("piece_meters")}}
        grouped["styles"] = {"names": flat.pop("styles"), "pieces": flat.pop("style_pieces")}
        return {"format": FORMAT, **flat, **grouped}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Metadata:
        """The metadata a stored document holds (keys it does not know are left out); `TypeError` or
        `ValueError` if it is not one."""
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            found = stored.get("format") if isinstance(stored, dict) else None
            raise ValueError(f"checkpoint format {found!r}, expected {FORMAT!r}")
        missing = [name for name in ("vocabularies", "model") if name not in stored]
        if missing:
            raise KeyError(missing[0])
        meters, styles = stored.get("meters") or {}, stored.get("styles") or {}
        known = {f.name for f in fields(cls)} - {"meters", "piece_meters", "styles", "style_pieces"}
        values = {k: v for k, v in stored.items() if k in known and v is not None}
        played = dict(values.get("plays_as", {}))  # instruments as tokens; not a mapping: ValueError or TypeError
        values["plays_as"] = {instrument_code(a): instrument_code(b) for a, b in played.items()}
        values["plays"] = instrument_code(values.get("plays", instrument_token(PIANO)))
        if values.get("preset") == "seed":  # the original design's sizes were the preset `seed` until 2026-12-05
            values["preset"] = "original"
        metadata = cls(
            **values, meters=meters.get("tokens") or [], piece_meters=meters.get("pieces") or [],
            styles=styles.get("names") or [], style_pieces=styles.get("pieces") or {},
        )  # fmt: skip
        if not isinstance(metadata.model, dict) or not isinstance(metadata.training, dict):
            raise TypeError("model settings or training record are not a mapping")
        return metadata


def save_checkpoint(
    model, path: Path | str, metadata: Metadata, train_rows: np.ndarray | None = None, optimizer: bool = False
) -> Path:
    """Atomically write `model`'s weights and `metadata` (plus optional training rows, and with
    `optimizer` the optimizer's state: its step and Adam's moments, for a true `--resume`) to
    `path`; `CheckpointError` naming the path if it cannot be written (a full disk, a read-only folder).

    The HDF5 file is built in a scratch folder and copied into place with plain writes: HDF5 must
    never meet a full disk, since h5py cannot close a file whose writes failed and the process then
    crashes (a segmentation fault) instead of reporting it."""
    import h5py

    needed = sum(int(np.prod(w.shape)) * 4 for w in model.weights) + (0 if train_rows is None else train_rows.nbytes)
    with tempfile.TemporaryDirectory(prefix=scratch_prefix("lstm_music-checkpoint")) as scratch:
        built = Path(scratch) / "checkpoint.weights.h5"
        if shutil.disk_usage(scratch).free < 2 * needed + 2**20:
            raise CheckpointError(f"cannot build checkpoint {path}: not enough free space in {scratch}")
        try:
            model.save_weights(built)
            with h5py.File(built, "a") as handle:
                group = handle.create_group(GROUP)
                text = json.dumps(metadata.to_dict())
                group.create_dataset("metadata", data=np.frombuffer(text.encode(), dtype=np.uint8))
                if train_rows is not None:
                    group.create_dataset("train_rows", data=train_rows, compression="gzip")
                if optimizer:
                    state = group.create_group(OPTIMIZER)
                    for i, variable in enumerate(model.optimizer.variables):
                        state.create_dataset(f"{i:05d}", data=np.asarray(variable.numpy()))
        except OSError as error:
            forget(error)
            raise CheckpointError(f"cannot build checkpoint {path} in {scratch}: {reason(error)}") from None
        return copy_checkpoint(built, path)


def copy_checkpoint(source: Path | str, path: Path | str) -> Path:
    """Copy the checkpoint file `source` to `path` atomically, with plain writes (never HDF5 on a
    disk that may be full); `CheckpointError` naming `path` if it cannot be written."""
    try:
        return write_atomically(Path(path), lambda temporary: shutil.copyfile(source, temporary), ".tmp.weights.h5")
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {path}: {reason(error)}") from error


def restore_optimizer(model, path: Path | str) -> bool:
    """Give `model`'s (compiled) optimizer the state stored in checkpoint `path`, in the order the
    optimizer lists its variables (layer names may differ between processes; shapes must not);
    False if it stores none (a best or epoch checkpoint: weights only) or one of another shape."""
    import h5py

    with h5py.File(path, "r") as handle:
        if OPTIMIZER not in handle[GROUP]:
            return False
        stored = handle[GROUP][OPTIMIZER]
        arrays = [stored[name][()] for name in sorted(stored)]
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if [tuple(v.shape) for v in variables] != [a.shape for a in arrays]:
        return False
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)
    return True


def read_metadata(path: Path | str) -> Metadata:
    """The metadata stored in checkpoint `path`; `CheckpointError` if it is not one of ours."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with h5py.File(path, "r") as handle:
            if GROUP not in handle or "metadata" not in handle[GROUP]:
                raise CheckpointError(f"{path} is an HDF5 file but not a checkpoint of this toolkit")
            text = bytes(handle[GROUP]["metadata"][()])
    except OSError as error:
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit (not an HDF5 file)") from error
    try:
        stored = json.loads(text.decode())
    except ValueError as error:
        raise CheckpointError(f"{path}: its metadata is damaged (not JSON: {error})") from error
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        found = stored.get("format") if isinstance(stored, dict) else None
        raise CheckpointError(f"{path} has checkpoint format {found!r}, expected {FORMAT!r}")
    try:  # everything generation, evaluation and --resume read from it, checked in this one place
        metadata = Metadata.from_dict(stored)
        vocabularies_from_json(metadata.vocabularies)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its metadata is damaged ({type(error).__name__}: {error})") from error
    return metadata


def fingerprint(rows: np.ndarray, chunk: int = 1 << 20) -> str:
    """A SHA-256 of encoded rows (shape and values), to tell a training split from any other; read
    `chunk` rows at a time, so that memory-mapped rows are never copied whole."""
    digest = hashlib.sha256(repr(rows.shape).encode())
    for start in range(0, len(rows), chunk):
        digest.update(np.ascontiguousarray(rows[start : start + chunk], dtype="<i4").tobytes())
    return digest.hexdigest()


def save_train_rows(run_dir: Path, write: Callable[[Path], None]) -> tuple[np.ndarray, dict]:
    """Write the run's encoded training split once, beside its checkpoints (`TRAIN_ROWS`), by
    `write(path)` (`encoding.encode_to_file`), so that no checkpoint grows with the corpus; return the
    rows memory-mapped from there and what the checkpoints record of them."""
    path = Path(run_dir) / TRAIN_ROWS
    try:
        write_atomically(path, write, suffix=".tmp.npy")
        rows = np.load(path, mmap_mode="r")
    except OSError as error:
        raise CheckpointError(f"cannot write {path}: {reason(error)}") from error
    return rows, {"file": TRAIN_ROWS, "sha256": fingerprint(rows), "rows": int(len(rows))}


def read_train_rows(path: Path | str, metadata: Metadata | None = None) -> np.ndarray | None:
    """The encoded training split of checkpoint `path` (what the n-gram baseline is fitted on):
    stored in the checkpoint itself (checkpoints before the run-level file), or the run folder's
    `TRAIN_ROWS` when its fingerprint is the one the checkpoint's `metadata` (read if not given)
    records; None otherwise."""
    import h5py

    with h5py.File(path, "r") as handle:
        if "train_rows" in handle[GROUP]:
            return handle[GROUP]["train_rows"][()]
    stored = (metadata or read_metadata(path)).train_rows
    beside = Path(path).parent / TRAIN_ROWS
    if not stored or not beside.is_file():
        return None
    try:
        rows = np.load(beside)
    except (OSError, ValueError):
        return None
    return rows if fingerprint(rows) == stored["sha256"] else None


def load_checkpoint(
    path: Path | str, metadata: Metadata | None = None
) -> tuple[keras.Model, Metadata, dict[str, Vocabulary]]:
    """Rebuild the model from `path` and load its weights; return ``(model, metadata, vocabularies)``
    (`metadata`: what `read_metadata` already read from `path`, not read again)."""
    metadata = metadata or read_metadata(path)  # a bad file fails before Keras loads
    import_keras()
    from .network import ModelConfig, build_model

    vocabularies = vocabularies_from_json(metadata.vocabularies)
    try:
        config = ModelConfig.from_dict(metadata.model)
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: its model settings are damaged ({type(error).__name__}: {error})") from error
    model = build_model({s: len(v) for s, v in vocabularies.items()}, config)
    try:
        model.load_weights(path)
    except Exception as error:  # Keras raises ValueError or KeyError on mismatched files, with tensor dumps
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: weights do not match the stored model settings ({reason})") from error
    return model, metadata, vocabularies


def resolve_checkpoint(path: Path | str | None, weights_dir: Path | str = "weights") -> Path:
    """The checkpoint file meant by `path`: a file, a run folder (its best), `base` (the shipped base
    model, where no file or folder of that name exists), or None (the newest run's best in
    `weights_dir`, else the base model)."""
    if str(path) == BASE and not Path(BASE).exists():
        path = BASE_RUN
        if not (path / BEST).is_file():
            raise CheckpointError(f"the base model {path / BEST} is missing: restore it with `git checkout {path}`")
    if path is not None:
        path = Path(path)
        if path.is_dir():
            if not (path / BEST).is_file():
                raise CheckpointError(f"run folder {path} has no {BEST}")
            return path / BEST
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist")
        return path
    found = Path(weights_dir).glob(f"*/{BEST}")  # nothing where no such folder exists
    runs = sorted((p for p in found if p.parent.resolve() != BASE_RUN), key=lambda p: p.stat().st_mtime)
    if runs:
        return runs[-1]
    if (BASE_RUN / BEST).is_file():
        return BASE_RUN / BEST
    raise CheckpointError(f"no checkpoint in {weights_dir}/: train one first with `python train.py`")
