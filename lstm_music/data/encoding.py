"""Encoding: pieces to rows of token indices and back, with each event's place in its bar, in
memory or into a .npy file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..streams import START_INDEX, UNK_INDEX, streams_of
from .events import Event, Piece
from .meter import in_force, off_the_grid, positions
from .notes import event_starts, held_notes
from .tokens import event_tokens, token_event
from .vocab import Vocabulary


def encode_piece(piece: Piece, vocabularies: dict[str, Vocabulary]) -> np.ndarray:
    """A piece as an int32 array of shape (1 + events, streams): a ``<start>`` row, then one row per event."""
    streams = streams_of(vocabularies)
    notes = held_notes(piece.events)
    if notes is not None:
        encoded = notes.encoded([vocabularies[s].encode for s in streams])
        return np.concatenate([np.full((1, len(streams)), START_INDEX, dtype=np.int32), encoded])
    rows = [[START_INDEX] * len(streams)]
    for event in piece.events:
        rows.append(
            [vocabularies[s].encode(token) for s, token in zip(streams, event_tokens(event, len(streams)), strict=True)]
        )
    return np.asarray(rows, dtype=np.int32)


def encode_positions(piece: Piece, meters: Vocabulary) -> np.ndarray:
    """Where the `<start>` row (the piece's start) and each event of `piece` lie in their bar, as
    (1 + events, 3) int32 rows: the index of the time signature in force in `meters`, the beat of
    the bar and the step in the beat (`meter.positions`). A piece whose notes lie off its beat grid
    (played without a click) reads the time signature `<unk>`: its beats say nothing."""
    ticks, resolution = event_starts(piece.events)
    rows = positions(np.concatenate([[0], ticks]), resolution, piece.meters)
    if off_the_grid(rows[1:, 2], piece.grid):
        rows[:, 0] = UNK_INDEX
    else:
        rows[:, 0] = np.array([meters.encode(m.token) for m in in_force(piece.meters)], dtype=np.int32)[rows[:, 0]]
    return rows


def encode_to_file(path: Path, pieces: Iterable[Piece], sizes: list[int], vocabularies: dict[str, Vocabulary]) -> None:
    """Write `pieces` (of `sizes` events each), encoded one after another, as one `.npy` array at
    `path`, holding one piece at a time in memory: the rows of a corpus larger than memory."""
    write_rows(path, pieces, sizes, lambda piece: encode_piece(piece, vocabularies), len(streams_of(vocabularies)))


def write_rows(path: Path, pieces: Iterable[Piece], sizes: list[int], encode, columns: int) -> None:
    """Write `encode(piece)` ((1 + events, `columns`) int32) of each of `pieces` (of `sizes` events)
    one after another as one `.npy` array at `path`, one piece at a time in memory."""
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.int32, shape=(sum(sizes) + len(sizes), columns))
    at = 0
    for piece, size in zip(pieces, sizes, strict=True):
        rows[at : at + size + 1] = encode(piece)
        at += size + 1
    rows.flush()
    del rows


def split_encoded(rows: np.ndarray) -> list[np.ndarray]:
    """Concatenated encoded pieces (as stored in checkpoints and `TRAIN_ROWS`) split back into one
    array per piece: views, so memory-mapped rows stay on disk."""
    return np.split(rows, np.flatnonzero(rows[:, 0] == START_INDEX)[1:])


def decode_events(rows: np.ndarray, vocabularies: dict[str, Vocabulary]) -> list[Event]:
    """Events from rows of indices (no ``<start>`` rows expected; an ``<unk>`` reads as None in its
    field); without an instrument stream every event is piano."""
    streams = streams_of(vocabularies)
    return [token_event([vocabularies[s].decode(int(row[i])) for i, s in enumerate(streams)]) for row in rows]
