"""Note representations, vocabularies (token <-> index per stream), piece encoding, splits, transposition.

Representation: with ``"note"`` (the default) every note is one event, a chord being its notes
lowest first, 0 apart (`events.split_chords`), so the note vocabulary is the pitches (about 90)
and any chord of known pitches can be read and generated. With ``"chord"`` (checkpoints made
before representations were recorded) a whole voiced chord is one token, and a chord never seen
in training is ``<unk>``.

Unknown-token rule: every vocabulary reserves index 0 for ``<unk>`` and index 1 for ``<start>``.
A token seen fewer than `min_count` times in the training split, or never seen there, encodes as
``<unk>``: the model still learns "something rare comes here", but sampling never emits ``<unk>``
(or ``<start>``), so generated music only uses tokens the model has seen often enough. Every piece
begins with one ``<start>`` event, so the model learns how pieces open and needs no primer.

Stream, special-token and model-input names live in `streams`.

This module needs only numpy, so summaries and the data layer load without Keras.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..streams import ALL_STREAMS, INSTRUMENT, SPECIALS, START_INDEX, STREAMS, UNK_INDEX, streams_of
from .events import Event, Piece, join_chords, merge_instruments, note_token, pitch_name, split_chords
from .instruments import DRUMS
from .keys import shift_to_common_key
from .meter import describe_meters, in_force, off_the_grid, positions
from .notes import DRUMS_CODE, NoteEvents, Notes, event_starts, events_span, held_notes, instrument_code, note_starts

REPRESENTATIONS = ("note", "chord")
OLD_REPRESENTATION = "chord"  # what a checkpoint that records none was trained on


def represent(piece: Piece, representation: str) -> Piece:
    """`piece` in the events of `representation`: one per note (``"note"``) or per chord (``"chord"``)."""
    if representation == "chord":
        return piece
    if representation != "note":
        raise ValueError(f"unknown representation {representation!r}; expected one of {REPRESENTATIONS}")
    notes = held_notes(piece.events, chords=True)
    return replace(piece, events=split_chords(piece.events) if notes is None else NoteEvents(notes, chords=False))


@dataclass
class Vocabulary:
    """An ordered list of tokens for one stream; index 0 is ``<unk>``, index 1 is ``<start>``."""

    tokens: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}")
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, tokens: Iterable[str] | Counter, min_count: int = 1) -> Vocabulary:
        """Keep tokens seen at least `min_count` times, most frequent first (ties by token text);
        `tokens` may be counted already."""
        counts = tokens if isinstance(tokens, Counter) else Counter(tokens)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count and t not in SPECIALS), key=lambda t: (-counts[t], t)
        )
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, token: str) -> int:
        """The index of `token`, or `UNK_INDEX` if it is not in the vocabulary."""
        return self.index.get(token, UNK_INDEX)

    def decode(self, index: int) -> str:
        """The token at `index`."""
        return self.tokens[index]


def pitch_vocabulary() -> Vocabulary:
    """The note vocabulary of note-level events: every MIDI pitch 0-127, in pitch order after the specials,
    so no pitch is ever ``<unk>`` and the model can tell a pitch's class and octave from its index."""
    return Vocabulary([*SPECIALS, *(pitch_name(m) for m in range(128))])


@dataclass
class Census:
    """What one pass over the training pieces (`count_tokens`) learns: how often each stream's tokens
    occur, and each piece's events and style, so that a corpus need not be held to build vocabularies."""

    counts: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in ALL_STREAMS})
    sizes: list[int] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)


def count_tokens(pieces: Iterable[Piece]) -> Census:
    """Count the tokens of `pieces`, reading each piece once (it may come from a generator)."""
    census = Census()
    for piece in pieces:
        notes = held_notes(piece.events, chords=False)
        if notes is not None:  # counted on the numbers, each distinct token made once
            for stream, counts in zip(ALL_STREAMS, notes.token_counts(), strict=True):
                census.counts[stream].update(counts)
        else:
            for event in piece.events:
                for stream, token in zip(ALL_STREAMS, event, strict=True):
                    census.counts[stream][token] += 1
        census.sizes.append(len(piece.events))
        census.styles.append(piece.style)
    return census


def build_vocabularies(
    pieces: Iterable[Piece] | Census, min_count: int = 1, representation: str = "chord", instruments: bool = False
) -> dict[str, Vocabulary]:
    """One vocabulary per stream from the events of `pieces` (the training split) or their `Census`;
    with the note representation the note vocabulary is `pitch_vocabulary`; with `instruments` a
    fourth holds every instrument seen (however rarely: an instrument is never <unk> for lack of examples)."""
    counts = (pieces if isinstance(pieces, Census) else count_tokens(pieces)).counts
    vocabularies = {stream: Vocabulary.build(counts[stream], min_count) for stream in STREAMS}
    if representation == "note":
        vocabularies["note"] = pitch_vocabulary()
    if instruments:
        vocabularies[INSTRUMENT] = Vocabulary.build(counts[INSTRUMENT])
    return vocabularies


def instruments_used(pieces: list[Piece]) -> dict[str, int]:
    """How many notes each instrument plays in `pieces`, most first."""
    counts: Counter = Counter()
    for piece in pieces:
        notes = held_notes(piece.events, chords=True)
        if notes is not None:
            counts.update(notes.program_counts())
        else:
            for event in piece.events:
                counts[event.instrument] += len(event.pitches)
    return dict(counts.most_common())


def together_index(vocabularies: dict[str, Vocabulary], representation: str) -> int | None:
    """The offset index of a note that starts with the one before it (a chord's later notes), which
    the repeat memory needs to see chords; None for whole-chord tokens, whose events are each an onset."""
    return vocabularies["offset"].index.get("0") if representation == "note" else None


def vocabularies_to_json(vocabularies: dict[str, Vocabulary]) -> str:
    """Serialize vocabularies (stored in checkpoints) as JSON."""
    return json.dumps({stream: vocabularies[stream].tokens for stream in streams_of(vocabularies)})


def vocabularies_from_json(text: str) -> dict[str, Vocabulary]:
    """Inverse of `vocabularies_to_json`."""
    data = json.loads(text)
    return {stream: Vocabulary(data[stream]) for stream in ALL_STREAMS if stream in data or stream in STREAMS}


def encode_piece(piece: Piece, vocabularies: dict[str, Vocabulary]) -> np.ndarray:
    """A piece as an int32 array of shape (1 + events, streams): a ``<start>`` row, then one row per event."""
    streams = streams_of(vocabularies)
    notes = held_notes(piece.events, chords=False)
    if notes is not None:
        encoded = notes.encoded([vocabularies[s].encode for s in streams])
        return np.concatenate([np.full((1, len(streams)), START_INDEX, dtype=np.int32), encoded])
    rows = [[START_INDEX] * len(streams)]
    rows += [[vocabularies[s].encode(event[i]) for i, s in enumerate(streams)] for event in piece.events]
    return np.asarray(rows, dtype=np.int32)


def meter_vocabulary(pieces: Iterable[Piece]) -> Vocabulary:
    """The time signatures of `pieces` (the training split), most pieces first; a piece without
    one is in 4/4."""
    return Vocabulary.build(Counter(m.token for piece in pieces for m in set(in_force(piece.meters))))


def describe_piece_meters(pieces: list[Piece]) -> str:
    """One line: the pieces' main time signatures, and those that had none or lie off the beat grid."""
    facts = []
    for piece in pieces:
        starts, resolution = note_starts(piece.events)
        off = off_the_grid(positions(starts, resolution, piece.meters)[:, 2], piece.grid)
        facts.append((piece.path, piece.meters, events_span(piece.events), off))
    return describe_meters(facts)


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
    """Events from rows of indices (no ``<start>`` or ``<unk>`` rows expected); without an instrument
    stream every event is piano."""
    streams = streams_of(vocabularies)
    return [Event(*(vocabularies[s].decode(int(row[i])) for i, s in enumerate(streams))) for row in rows]


UNKNOWN_WARNING = 0.01  # share of notes outside the vocabularies above which users are warned


def unknown_notes(pieces: list[Piece], vocabularies: dict[str, Vocabulary]) -> dict[str, int]:
    """How many notes of `pieces` the vocabularies cannot represent: ``"pitch"`` counts the notes whose
    note or chord token is ``<unk>``, ``"rhythm"`` those whose offset or duration token is, ``"notes"``
    all of them."""
    counts = {"pitch": 0, "rhythm": 0, "notes": 0}
    for piece in pieces:
        notes = held_notes(piece.events, chords=False)
        if notes is not None:  # one note per event
            known = notes.encoded([vocabularies[s].encode for s in STREAMS]) != UNK_INDEX
            counts["notes"] += len(notes)
            counts["pitch"] += int((~known[:, 0]).sum())
            counts["rhythm"] += int((~known[:, 1:].all(axis=1)).sum())
            continue
        for event in piece.events:
            notes = len(event.pitches)
            counts["notes"] += notes
            counts["pitch"] += notes * (event.note not in vocabularies["note"].index)
            known = event.offset in vocabularies["offset"].index and event.duration in vocabularies["duration"].index
            counts["rhythm"] += notes * (not known)
    return counts


def unknown_warning(counts: dict[str, int], what: str) -> str | None:
    """A one-line warning when more than `UNKNOWN_WARNING` of the notes of `what` cannot be represented."""
    notes = max(1, counts["notes"])
    parts = [
        f"{counts[kind]} of {counts['notes']} {what} notes ({counts[kind] / notes:.1%}) have {label} it lacks"
        for kind, label in (("pitch", "a pitch or chord"), ("rhythm", "an offset or duration"))
        if counts[kind] > UNKNOWN_WARNING * notes
    ]
    if not parts:
        return None
    return f"warning: the checkpoint's vocabulary cannot represent every note: {'; '.join(parts)} (read as <unk>)"


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
    """`piece` shifted by `semitones`, or None if a pitch would leave the MIDI range 0-127; drums
    (whose note numbers are sounds, not pitches) stay as they are."""
    path = f"{piece.path} ({semitones:+d})"
    notes = held_notes(piece.events, chords=False)
    if notes is not None:
        moved = notes.transposed(semitones)
        return None if moved is None else replace(piece, path=path, events=NoteEvents(moved, chords=False))
    events = []
    for event in piece.events:
        if event.instrument == DRUMS:
            events.append(event)
            continue
        pitches = [p + semitones for p in event.pitches]
        if min(pitches) < 0 or max(pitches) > 127:
            return None
        events.append(event._replace(note=note_token(pitches)))
    return replace(piece, path=path, events=events)


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
        out.append(event._replace(note=note_token(pitches)))
    return out


def to_common_key(piece: Piece) -> tuple[Piece, int]:
    """`piece` transposed from its estimated key to C major or A minor, and the semitones it moved."""
    pitched = [event for event in piece.events if event.instrument != DRUMS]
    shift = shift_to_common_key([p for event in pitched for p in event.pitches])
    moved = transpose_piece(piece, shift) if shift else None
    if moved is None:  # in the common key already, or too wide to move without leaving MIDI's range
        return piece, 0
    return replace(piece, events=moved.events), shift


def notes_in_common_key(notes: Notes) -> Notes:
    """`to_common_key` of notes: moved from their estimated key to C major or A minor, unless that
    would take a pitch out of MIDI's range."""
    shift = shift_to_common_key(notes.pitched())
    moved = notes.transposed(shift, resort=True) if shift else None
    return notes if moved is None else moved


def instrument_table(instruments: bool, plays_as: dict[str, str] | None) -> np.ndarray:
    """The instrument code each instrument code plays as (`notes.Notes.played_as`): the piano
    for all without `instruments`, else itself or what `plays_as` says."""
    if not instruments:
        return np.zeros(DRUMS_CODE + 1, dtype=np.int16)
    table = np.arange(DRUMS_CODE + 1, dtype=np.int16)
    for played, heir in (plays_as or {}).items():
        table[instrument_code(played)] = instrument_code(heir)
    return table


def prepare_piece(
    piece: Piece, representation: str, common_key: bool, instruments: bool = False, plays_as: dict | None = None
) -> Piece:
    """`piece` as a model sees it: moved to C major or A minor if `common_key`, all on one
    instrument unless `instruments` (and then a rare instrument played as another, as `plays_as`
    says: `instruments.instrument_plan`), in `representation`'s events. Pieces held as `Notes`
    (read from the corpus) are prepared on the numbers, into the same events."""
    notes = held_notes(piece.events, chords=True)
    if notes is not None and representation == "note":
        notes = notes.played_as(instrument_table(instruments, plays_as))
        notes = notes_in_common_key(notes) if common_key else notes
        return replace(piece, events=NoteEvents(notes, chords=False))
    if not instruments:
        piece = replace(piece, events=merge_instruments(piece.events))
    elif plays_as:
        moved = [event._replace(instrument=plays_as.get(event.instrument, event.instrument)) for event in piece.events]
        piece = replace(piece, events=join_chords(moved))
    return represent(to_common_key(piece)[0] if common_key else piece, representation)


def prepare(
    pieces: list[Piece], representation: str, common_key: bool, instruments: bool = False, plays_as: dict | None = None
) -> list[Piece]:
    """`prepare_piece` of each of `pieces`."""
    return [prepare_piece(piece, representation, common_key, instruments, plays_as) for piece in pieces]


def shifts(transpose: int) -> list[int]:
    """The shifts in semitones of the transpositions `augment` adds, in its order."""
    return [shift for shift in range(-transpose, transpose + 1) if shift]


def augment(pieces: list[Piece], transpose: int) -> list[Piece]:
    """`pieces` plus every transposition by -`transpose`..+`transpose` semitones that stays in range."""
    out = list(pieces)
    for shift in shifts(transpose):
        out += [t for t in (transpose_piece(p, shift) for p in pieces) if t is not None]
    return out


def prepared(
    pieces: list[Piece],
    representation: str,
    common_key: bool,
    instruments: bool,
    moves: Iterable[int] = (0,),
    plays_as: dict | None = None,
) -> Iterator[Piece]:
    """`pieces` prepared one at a time, for each shift of `moves` in turn, a transposition that would
    leave MIDI's range left out: ``moves=[0, *shifts(t)]`` gives `augment(prepare(pieces), t)`'s pieces
    without holding them."""
    for shift in moves:
        for piece in pieces:
            seen = prepare_piece(piece, representation, common_key, instruments, plays_as)
            moved = transpose_piece(seen, shift) if shift else seen
            if moved is not None:
                yield moved
