"""Preparing pieces as the model sees them: one event per note or per chord, moved to a common
key, transposed, their instruments merged or played as learned ones; and the split into training
and validation pieces.

Preparing works on a piece's numbers (`notes.Notes`), whatever holds its events, and gives
`notes.NoteEvents`. Representation: with ``"note"`` (the default) every note is one event, a chord
being its notes lowest first, 0 apart (`notes.Notes.note_events`), so the note vocabulary is the
pitches (about 90) and any chord of known pitches can be read and generated. With ``"chord"``
(checkpoints made before representations were recorded) a whole voiced chord is one token, and a
chord never seen in training is ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from .events import Event, Piece
from .instruments import DRUMS
from .keys import shift_to_common_key
from .notes import NoteEvents, Notes, notes_of

REPRESENTATIONS = ("note", "chord")
OLD_REPRESENTATION = "chord"  # what a checkpoint that records none was trained on


def represented(notes: Notes, representation: str) -> NoteEvents:
    """The events of `notes` in `representation`: one per note (``"note"``) or per chord (``"chord"``)."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; expected one of {REPRESENTATIONS}")
    return NoteEvents(notes, chords=representation == "chord")


def split_pieces(pieces: list[Piece], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Piece], list[Piece]]:
    """Split by piece into (train, validation), deterministic for `seed`.

    The validation share is `val_fraction` of the pieces, rounded, but at least one piece when
    there are two or more and the fraction is positive, and never all of them.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError("val_fraction must be in [0, 1)")
    count = round(len(pieces) * val_fraction)
    if val_fraction > 0 and len(pieces) >= 2:
        count = min(max(count, 1), len(pieces) - 1)
    order = np.random.default_rng(seed).permutation(len(pieces))
    validation = set(order[:count].tolist())
    train = [p for i, p in enumerate(pieces) if i not in validation]
    return train, [p for i, p in enumerate(pieces) if i in validation]


def transpose_piece(piece: Piece, semitones: int) -> Piece | None:
    """A prepared `piece` (`prepare_piece`) shifted by `semitones`, or None if a pitch would leave the
    MIDI range 0-127; drums (whose note numbers are sounds, not pitches) stay as they are."""
    moved = piece.events.notes.transposed(semitones)
    if moved is None:
        return None
    return replace(piece, path=f"{piece.path} ({semitones:+d})", events=NoteEvents(moved, piece.events.chords))


def transpose_folded(events: list[Event], semitones: int) -> list[Event]:
    """`events` shifted by `semitones`, with any pitch that would leave MIDI's 0-127 moved an octave
    back in; drums stay as they are."""
    out = []
    for event in events:
        if event.instrument == DRUMS:
            out.append(event)
            continue
        pitches = []
        for pitch in event.pitches:
            pitch += semitones
            while not 0 <= pitch <= 127:
                pitch += 12 if pitch < 0 else -12
            pitches.append(pitch)
        out.append(event._replace(pitches=tuple(sorted(set(pitches)))))
    return out


def to_common_key(notes: Notes) -> tuple[Notes, int]:
    """`notes` moved from their estimated key to C major or A minor, and the semitones they moved (none
    where that would take a pitch out of MIDI's range)."""
    shift = shift_to_common_key(notes.pitched())
    moved = notes.transposed(shift, resort=True) if shift else None
    return (notes, 0) if moved is None else (moved, shift)


def instrument_table(instruments: bool, plays_as: dict[int, int] | None) -> np.ndarray:
    """The instrument each instrument plays as (`notes.Notes.played_as`): the piano for all without
    `instruments`, else itself or what `plays_as` says."""
    if not instruments:
        return np.zeros(DRUMS + 1, dtype=np.int16)
    table = np.arange(DRUMS + 1, dtype=np.int16)
    for played, heir in (plays_as or {}).items():
        table[played] = heir
    return table


def prepare_notes(
    piece: Piece, common_key: bool, instruments: bool = False, plays_as: dict | None = None
) -> tuple[Notes, int]:
    """The notes of `piece` as a model sees them, and the semitones they moved: all on one instrument
    unless `instruments` (and then a rare instrument played as another, as `plays_as` says:
    `instruments.instrument_plan`), moved to C major or A minor if `common_key`."""
    notes = notes_of(piece.events).played_as(instrument_table(instruments, plays_as))
    return to_common_key(notes) if common_key else (notes, 0)


def prepare_piece(
    piece: Piece, representation: str, common_key: bool, instruments: bool = False, plays_as: dict | None = None
) -> Piece:
    """`piece` as a model sees it (`prepare_notes`), in `representation`'s events."""
    notes, _ = prepare_notes(piece, common_key, instruments, plays_as)
    return replace(piece, events=represented(notes, representation))


def prepare(
    pieces: list[Piece], representation: str, common_key: bool, instruments: bool = False, plays_as: dict | None = None
) -> list[Piece]:
    """`prepare_piece` of each of `pieces`."""
    return [prepare_piece(piece, representation, common_key, instruments, plays_as) for piece in pieces]


def shifts(transpose: int) -> list[int]:
    """The shifts in semitones of the transpositions by -`transpose`..+`transpose`, in `prepared`'s order."""
    return [shift for shift in range(-transpose, transpose + 1) if shift]


def prepared(
    pieces: list[Piece],
    representation: str,
    common_key: bool,
    instruments: bool,
    semitones: Iterable[int] = (0,),
    plays_as: dict | None = None,
) -> Iterator[Piece]:
    """`pieces` prepared one at a time, for each shift of `semitones` in turn, a transposition that would
    leave MIDI's range left out: ``semitones=[0, *shifts(t)]`` gives the pieces, then every
    transposition by -t..+t that stays in range, without holding them."""
    for shift in semitones:
        for piece in pieces:
            seen = prepare_piece(piece, representation, common_key, instruments, plays_as)
            moved = transpose_piece(seen, shift) if shift else seen
            if moved is not None:
                yield moved
