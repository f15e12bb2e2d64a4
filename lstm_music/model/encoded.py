"""The training and validation splits encoded once: the training split into the run's files, read memory-mapped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..data.encoding import encode_piece, encode_positions, encode_to_file, split_encoded, write_rows
from ..data.events import Piece
from ..data.vocab import Census, Vocabulary
from ..files import reason

if TYPE_CHECKING:
    from .training import Plan


class Encoded(NamedTuple):
    """Encoded pieces: their rows (`encoding.encode_piece`) and, for a model that reads meter, the
    places of those rows in their bars (`encoding.encode_positions`; else None)."""

    rows: list[np.ndarray]
    positions: list[np.ndarray] | None = None


def encode_split(run_dir: Path, plan: Plan, split: tuple, census: Census, vocabularies: dict, semitones: list[int]):
    """The training split encoded piece by piece into the run's files and memory-mapped from there
    (its pieces, then their transpositions by `semitones` after the 0 that comes first), and the
    validation split in memory: the training `Encoded`, the rows of the pieces themselves, the
    validation `Encoded`, and what checkpoints record of the training split's file."""
    train_pieces, val_pieces = split
    ours = len(train_pieces)  # the pieces themselves come first in the census, then their transpositions
    seen_arrays, record = encode_training(run_dir, plan.seen(train_pieces, [0]), census.sizes[:ours], vocabularies)
    moved = encode_transposed(run_dir, plan.seen(train_pieces, semitones[1:]), census.sizes[ours:], vocabularies)
    val = Encoded([encode_piece(p, vocabularies) for p in plan.seen(val_pieces, [0])])
    if not plan.meters:
        return Encoded(seen_arrays + moved), seen_arrays, val, record
    meters = Vocabulary(plan.meters)
    path = temporary_rows(run_dir, "positions")  # a transposition has the places of its piece
    places = encode_to_memory_map(path, plan.seen(train_pieces, semitones), census.sizes, meters)
    val = val._replace(positions=[encode_positions(p, meters) for p in plan.seen(val_pieces, [0])])
    return Encoded(seen_arrays + moved, places), seen_arrays, val, record


def encode_training(run_dir: Path, pieces: Iterator[Piece], sizes: list[int], vocabularies: dict) -> tuple[list, dict]:
    """The training split's `pieces` (of `sizes` events) encoded once into the run's `TRAIN_ROWS`,
    one piece at a time: one memory-mapped view per piece, and what checkpoints record of the file."""
    from .checkpoint import save_train_rows

    rows, record = save_train_rows(run_dir, lambda path: encode_to_file(path, pieces, sizes, vocabularies))
    return split_encoded(rows), record


def temporary_rows(run_dir: Path, what: str) -> Path:
    """Where this process keeps encoded rows of `what` (transpositions, positions) while it trains:
    a temporary file of its own, which the next run in the folder removes if this one is killed
    (`files.remove_stale`)."""
    return run_dir / f".{what}_rows.{os.getpid()}.tmp.npy"


def encode_transposed(run_dir: Path, pieces: Iterator[Piece], sizes: list[int], vocabularies: dict) -> list:
    """The training split's transpositions `pieces` (of `sizes` events) encoded into a temporary
    file and memory-mapped from there, one view per piece; none without transpositions."""
    if not sizes:
        return []
    return encode_to_memory_map(temporary_rows(run_dir, "transposed"), pieces, sizes, vocabularies)


def encode_to_memory_map(path: Path, pieces: Iterator[Piece], sizes: list[int], vocabulary) -> list:
    """`pieces` (of `sizes` events) encoded into the file `path` and memory-mapped from there, one
    view per piece: their rows (`vocabulary` a dict of streams' vocabularies) or their positions
    (`vocabulary` the time signatures'); `CheckpointError` naming the file if it cannot be written."""
    from .checkpoint import CheckpointError

    try:
        if isinstance(vocabulary, Vocabulary):
            write_rows(path, pieces, sizes, lambda piece: encode_positions(piece, vocabulary), 3)
        else:
            encode_to_file(path, pieces, sizes, vocabulary)
        rows = np.load(path, mmap_mode="r")
    except OSError as error:
        path.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write {path}: {reason(error)}") from error
    return np.split(rows, np.cumsum([size + 1 for size in sizes])[:-1])
