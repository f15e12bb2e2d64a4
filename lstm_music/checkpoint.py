"""Self-contained HDF5 checkpoints: Keras weights plus everything needed to use them.

A checkpoint is a Keras ``.weights.h5`` file with one extra group, ``lstm_music``, holding a JSON
document (format tag, vocabularies, model configuration, sequence length, parser settings and a
training summary) and the encoded training split (for the n-gram baseline). Generation and
evaluation need nothing else. Files are written to a temporary name, flushed and renamed, so a
checkpoint under its final name is always complete. h5py is imported when a file is opened, so
that commands which only name a checkpoint's errors start without it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .backend import import_keras
from .files import forget, reason, scratch_prefix, write_atomically
from .vocab import OLD_REPRESENTATION, Vocabulary, vocabularies_from_json

if TYPE_CHECKING:
    import keras

FORMAT = "lstm_music-checkpoint/1"
GROUP = "lstm_music"
BEST = "best.weights.h5"
LATEST = "latest.weights.h5"  # the run's state after its last epoch, optimizer included: what --resume wants
OPTIMIZER = "optimizer"
TRAIN_ROWS = "train_rows.npy"


class CheckpointError(Exception):
    """A path that is not a usable checkpoint of this toolkit; the message says why."""


def save_checkpoint(
    model, path: Path | str, metadata: dict, train_rows: np.ndarray | None = None, optimizer: bool = False
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
                text = json.dumps({"format": FORMAT, **metadata})
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


def read_metadata(path: Path | str) -> dict:
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
        metadata = json.loads(text.decode())
    except ValueError as error:
        raise CheckpointError(f"{path}: its metadata is damaged (not JSON: {error})") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise CheckpointError(f"{path} has checkpoint format {found!r}, expected {FORMAT!r}")
    try:  # everything generation, evaluation and --resume read from it, checked in this one place
        vocabularies_from_json(metadata["vocabularies"])
        if not isinstance(metadata["model"], dict):
            raise TypeError("model settings are not a mapping")
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its metadata is damaged ({type(error).__name__}: {error})") from error
    return metadata


def seen_as(metadata: dict) -> tuple[str, bool]:
    """(representation, common key) of the music a checkpoint was trained on; checkpoints from before
    these were recorded used whole-chord tokens in the pieces' own keys."""
    return metadata.get("representation", OLD_REPRESENTATION), bool(metadata.get("common_key", False))


def fingerprint(rows: np.ndarray, chunk: int = 1 << 20) -> str:
    """A SHA-256 of encoded rows (shape and values), to tell a training split from any other; read
    `chunk` rows at a time, so that memory-mapped rows are never copied whole."""
    digest = hashlib.sha256(repr(rows.shape).encode())
    for start in range(0, len(rows), chunk):
        digest.update(np.ascontiguousarray(rows[start : start + chunk], dtype="<i4").tobytes())
    return digest.hexdigest()


def save_train_rows(run_dir: Path, write: Callable[[Path], None]) -> tuple[np.ndarray, dict]:
    """Write the run's encoded training split once, beside its checkpoints (`TRAIN_ROWS`), by
    `write(path)` (`vocab.encode_to_file`), so that no checkpoint grows with the corpus; return the
    rows memory-mapped from there and what the checkpoints record of them."""
    path = Path(run_dir) / TRAIN_ROWS
    try:
        write_atomically(path, write, suffix=".tmp.npy")
        rows = np.load(path, mmap_mode="r")
    except OSError as error:
        raise CheckpointError(f"cannot write {path}: {reason(error)}") from error
    return rows, {"file": TRAIN_ROWS, "sha256": fingerprint(rows), "rows": int(len(rows))}


def read_train_rows(path: Path | str) -> np.ndarray | None:
    """The encoded training split of checkpoint `path` (what the n-gram baseline is fitted on):
    stored in the checkpoint itself (checkpoints before the run-level file), or the run folder's
    `TRAIN_ROWS` when its fingerprint is the one the checkpoint records; None otherwise."""
    import h5py

    with h5py.File(path, "r") as handle:
        if "train_rows" in handle[GROUP]:
            return handle[GROUP]["train_rows"][()]
    stored = read_metadata(path).get("train_rows")
    beside = Path(path).parent / TRAIN_ROWS
    if not stored or not beside.is_file():
        return None
    try:
        rows = np.load(beside)
    except (OSError, ValueError):
        return None
    return rows if fingerprint(rows) == stored["sha256"] else None


def load_checkpoint(path: Path | str) -> tuple[keras.Model, dict, dict[str, Vocabulary]]:
    """Rebuild the model from `path` and load its weights; return ``(model, metadata, vocabularies)``."""
    metadata = read_metadata(path)  # a bad file fails before Keras loads
    import_keras()
    from .model import ModelConfig, build_model

    vocabularies = vocabularies_from_json(metadata["vocabularies"])
    try:
        config = ModelConfig.from_dict(metadata["model"])
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
    """The checkpoint file meant by `path`: a file, a run folder (its best), or None (newest run's best)."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            if not (path / BEST).is_file():
                raise CheckpointError(f"run folder {path} has no {BEST}")
            return path / BEST
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist")
        return path
    weights_dir = Path(weights_dir)
    runs = (
        sorted((p for p in weights_dir.glob(f"*/{BEST}")), key=lambda p: p.stat().st_mtime)
        if weights_dir.is_dir()
        else []
    )
    if not runs:
        raise CheckpointError(f"no checkpoint in {weights_dir}/: train one first with `python train.py`")
    return runs[-1]
