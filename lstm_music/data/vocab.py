"""Vocabularies: token <-> index per stream, the census of a training split they are built from,
and how much of a set of pieces they cannot represent.

Unknown-token rule: every vocabulary reserves index 0 for ``<unk>`` and index 1 for ``<start>``.
A token seen fewer than `min_count` times in the training split, or never seen there, encodes as
``<unk>``: the model still learns "something rare comes here", but sampling never emits ``<unk>``
(or ``<start>``), so generated music only uses tokens the model has seen often enough. Every piece
begins with one ``<start>`` event, so the model learns how pieces open and needs no primer. The
note vocabulary of note events is every MIDI pitch (`preparation` says what an event is).

Stream, special-token and model-input names live in `streams`. This module needs only numpy, so
summaries and the data layer load without Keras.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..streams import ALL_STREAMS, INSTRUMENT, SPECIALS, STREAMS, UNK_INDEX, streams_of
from .events import Piece
from .meter import describe_meters, in_force, off_the_grid, positions
from .notes import events_span, held_notes, note_starts, notes_of
from .tokens import event_tokens, pitch_name


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
        notes = held_notes(piece.events)
        if notes is not None:  # counted on the numbers, each distinct token made once
            for stream, counts in zip(ALL_STREAMS, notes.token_counts(), strict=True):
                census.counts[stream].update(counts)
        else:
            for event in piece.events:
                for stream, token in zip(ALL_STREAMS, event_tokens(event), strict=True):
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


def instruments_used(pieces: list[Piece]) -> dict[int, int]:
    """How many notes each instrument plays in `pieces`, most first."""
    counts: Counter = Counter()
    for piece in pieces:
        counts.update(notes_of(piece.events).program_counts())
    return dict(counts.most_common())


def same_onset_index(vocabularies: dict[str, Vocabulary], representation: str) -> int | None:
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


UNKNOWN_WARNING = 0.01  # share of notes outside the vocabularies above which users are warned


def unknown_notes(pieces: list[Piece], vocabularies: dict[str, Vocabulary]) -> dict[str, int]:
    """How many notes of `pieces` the vocabularies cannot represent: ``"pitch"`` counts the notes whose
    note or chord token is ``<unk>``, ``"rhythm"`` those whose offset or duration token is, ``"notes"``
    all of them."""
    counts = {"pitch": 0, "rhythm": 0, "notes": 0}
    for piece in pieces:
        notes = held_notes(piece.events)
        if notes is not None:  # one note per event
            known = notes.encoded([vocabularies[s].encode for s in STREAMS]) != UNK_INDEX
            counts["notes"] += len(notes)
            counts["pitch"] += int((~known[:, 0]).sum())
            counts["rhythm"] += int((~known[:, 1:].all(axis=1)).sum())
            continue
        for event in piece.events:
            notes = len(event.pitches)
            note, offset, duration = event_tokens(event, 3)
            counts["notes"] += notes
            counts["pitch"] += notes * (note not in vocabularies["note"].index)
            known = offset in vocabularies["offset"].index and duration in vocabularies["duration"].index
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
