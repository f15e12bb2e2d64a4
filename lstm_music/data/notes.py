"""A piece's notes as numbers, and events made from them only when they are read.

`Notes` holds one row per note: onset and length in integer ticks of 1/`resolution` quarter note,
MIDI pitch and instrument (the General MIDI program, `instruments.DRUMS` for percussion), in the
order of the note-level events (by onset, pitch, instrument, length: `Notes.note_events`). It is
what the event cache stores, and what training reads: merging instruments, moving to the common
key, transposing, counting tokens and encoding are numpy operations on it instead of Python
`Fraction` arithmetic on every event, so a warm start costs little more than reading the cache.

`NoteEvents` is the `Sequence[Event]` of a piece held so: its chord events (a parsed piece, as
`events.onsets_to_events` groups them) or its note events (a prepared piece), made as `Event`s
only when something iterates them. Every piece is prepared as such numbers (`notes_of`); a test
checks over `midi_songs/` that they give the events that working event by event gives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from .events import Event, event_onsets, onsets_to_events
from .instruments import DRUMS, instrument_token
from .tokens import format_ql, pitch_name


@dataclass(frozen=True)
class Notes:
    """One row per note, sorted as note-level events are; times in ticks of 1/`resolution` quarter."""

    onset: np.ndarray  # int64
    length: np.ndarray  # int64
    pitch: np.ndarray  # int16: MIDI number (a drum's sound for drums)
    program: np.ndarray  # int16: the instrument (`instruments.DRUMS` for percussion)
    resolution: int

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> Notes:
        """The notes of `events` (chords or single notes; zero-length ones left out)."""
        sounds = [(start, length, pitch, instrument) for start, length, pitches, instrument in event_onsets(events)
                  for pitch in pitches if length > 0]  # fmt: skip
        resolution = math.lcm(1, *{x.denominator for start, length, _, _ in sounds for x in (start, length)})
        columns = [
            np.array([int(start * resolution) for start, *_ in sounds], dtype=np.int64),
            np.array([int(length * resolution) for _, length, *_ in sounds], dtype=np.int64),
            np.array([pitch for _, _, pitch, _ in sounds], dtype=np.int16),
            np.array([instrument for *_, instrument in sounds], dtype=np.int16),
        ]
        return cls(*columns, resolution)._sorted(dedupe=True)

    def __len__(self) -> int:
        return len(self.onset)

    def _sorted(self, dedupe: bool = False) -> Notes:
        """The notes in note-event order; with `dedupe`, a note equal to the one before it in onset,
        pitch, instrument and length dropped (a chord holds each of its pitches once)."""
        order = np.lexsort((self.length, self.program, self.pitch, self.onset))
        columns = [c[order] for c in (self.onset, self.length, self.pitch, self.program)]
        if dedupe and len(order) > 1:
            kept = np.ones(len(order), dtype=bool)
            kept[1:] = np.any([c[1:] != c[:-1] for c in columns], axis=0)
            columns = [c[kept] for c in columns]
        return Notes(*columns, self.resolution)

    def _time(self, ticks: int) -> Fraction:
        return Fraction(int(ticks), self.resolution)

    def chord_count(self) -> int:
        """How many chord events the notes make: notes of one instrument with one onset and length are one."""
        if not len(self):
            return 0
        order = np.lexsort((self.program, self.length, self.onset))
        columns = [c[order] for c in (self.onset, self.length, self.program)]
        return 1 + int(np.any([c[1:] != c[:-1] for c in columns], axis=0).sum())

    def chord_events(self) -> list[Event]:
        """The chord events of the notes (`events.onsets_to_events`)."""
        sounds = zip(self.onset.tolist(), self.length.tolist(), self.pitch.tolist(), self.program.tolist(), strict=True)
        return onsets_to_events([(self._time(s), self._time(n), (p,), c) for s, n, p, c in sounds])

    def note_events(self) -> list[Event]:
        """The note events, one per note: a chord's notes lowest first, the first with the chord's
        offset and the others 0 after it, each with the chord's duration."""
        makers = [lambda pitch: (pitch,), self._time, self._time, int]
        columns = [[made[i] for i in codes.tolist()] for made, codes in self._distinct(makers)]
        return [Event(*fields) for fields in zip(*columns, strict=True)]

    def offsets(self) -> np.ndarray:
        """Ticks from each note's onset to the next one's (the first counts from the piece's start)."""
        return np.diff(self.onset, prepend=0)

    def token_codes(self) -> list[tuple[list[str], np.ndarray]]:
        """Per stream, its distinct tokens and each note's index among them."""

        def quarters(ticks: int) -> str:
            return format_ql(self._time(ticks))

        return self._distinct([pitch_name, quarters, quarters, instrument_token])

    def _distinct(self, makers: list[Callable[[int], object]]) -> list[tuple[list, np.ndarray]]:
        """Per column (pitch, offset, length, instrument), `makers[i]` of each distinct value and each
        note's index among them: a value is made once, not once per note."""
        out = []
        for values, make in zip((self.pitch, self.offsets(), self.length, self.program), makers, strict=True):
            distinct, codes = np.unique(values, return_inverse=True)
            out.append(([make(int(v)) for v in distinct], codes.reshape(-1)))
        return out

    def token_counts(self) -> list[Counter]:
        """How often each token of each stream occurs in the note events."""
        return [Counter(dict(zip(tokens, np.bincount(codes, minlength=len(tokens)).tolist(), strict=True)))
                for tokens, codes in self.token_codes()]  # fmt: skip

    def encoded(self, encoders: list[Callable[[str], int]]) -> np.ndarray:
        """The note events as indices, (notes, len(encoders)): stream i's token encoded by `encoders[i]`."""
        out = np.empty((len(self), len(encoders)), dtype=np.int32)
        for i, ((tokens, codes), encode) in enumerate(zip(self.token_codes(), encoders, strict=False)):
            out[:, i] = np.array([encode(t) for t in tokens], dtype=np.int32)[codes]
        return out

    def program_counts(self) -> dict[int, int]:
        """How many notes each instrument plays."""
        codes, counts = np.unique(self.program, return_counts=True)
        return {int(c): int(n) for c, n in zip(codes, counts, strict=True)}

    def played_as(self, table: np.ndarray) -> Notes:
        """The notes with each instrument code `c` played by `table[c]`, a note now equal to another
        (the same pitch at the same time on the same instrument) kept once."""
        if (table[self.program] == self.program).all():
            return self
        moved = Notes(self.onset, self.length, self.pitch, table[self.program].astype(np.int16), self.resolution)
        return moved._sorted(dedupe=True)

    def without_drums(self) -> Notes:
        """The pitched notes alone."""
        kept = self.program != DRUMS
        return Notes(self.onset[kept], self.length[kept], self.pitch[kept], self.program[kept], self.resolution)

    def pitched(self) -> np.ndarray:
        """The MIDI numbers of the pitched notes (drums' numbers are sounds)."""
        return self.pitch[self.program != DRUMS]

    def transposed(self, semitones: int, resort: bool = False) -> Notes | None:
        """The notes with every pitched one moved by `semitones`, or None if one would leave MIDI's
        0-127. The rows keep their order unless `resort`."""
        pitched = self.program != DRUMS
        moved = np.where(pitched, self.pitch + semitones, self.pitch)
        if pitched.any() and (moved[pitched].min() < 0 or moved[pitched].max() > 127):
            return None
        notes = Notes(self.onset, self.length, moved.astype(np.int16), self.program, self.resolution)
        return notes._sorted() if resort else notes

    def table(self) -> np.ndarray:
        """The notes as one int64 array (notes, 4): onset, length, pitch, program; `from_table` reads it."""
        return np.stack([self.onset, self.length, self.pitch.astype(np.int64), self.program.astype(np.int64)], axis=1)

    @classmethod
    def from_table(cls, table: np.ndarray, resolution: int) -> Notes:
        """The notes of a `table`; `ValueError` for an array of another shape, type or range."""
        if table.ndim != 2 or table.shape[1] != 4 or table.dtype.kind != "i" or not len(table) or resolution < 1:
            raise ValueError("not the table of a piece's notes")
        onset, length, pitch, program = table.T
        if length.min() <= 0 or pitch.min() < 0 or pitch.max() > 127 or program.min() < 0 or program.max() > DRUMS:
            raise ValueError("notes out of range")
        return cls(onset.astype(np.int64), length.astype(np.int64), pitch.astype(np.int16),
                   program.astype(np.int16), int(resolution))  # fmt: skip


class NoteEvents(Sequence[Event]):
    """The events of a piece held as `Notes`: its chord events if `chords`, else its note events,
    made when read. `source` is the notes, or a function that reads them (from the cache: a large
    corpus then keeps only counts in memory); `size` is the number of events, if known."""

    def __init__(self, source: Notes | Callable[[], Notes], chords: bool, size: int | None = None) -> None:
        self.source, self.chords = source, chords
        if size is None:
            notes = self.notes
            size = notes.chord_count() if chords else len(notes)
        self.size = size

    @property
    def notes(self) -> Notes:
        """The numbers behind the events (read again each time from a function)."""
        return self.source if isinstance(self.source, Notes) else self.source()

    @cached_property
    def _held(self) -> list[Event]:
        return self._made(self.notes)

    def _made(self, notes: Notes) -> list[Event]:
        return notes.chord_events() if self.chords else notes.note_events()

    def events(self) -> list[Event]:
        """The events as a list: kept once made when the notes are held, made anew each time when read."""
        return self._held if isinstance(self.source, Notes) else self._made(self.notes)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):
        return self.events()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"NoteEvents({self.size} {'chord' if self.chords else 'note'} events)"


def notes_of(events: Sequence[Event]) -> Notes:
    """The notes of `events`: the numbers behind `NoteEvents`, else read from the events."""
    return events.notes if isinstance(events, NoteEvents) else Notes.from_events(events)


def held_notes(events: Sequence[Event]) -> Notes | None:
    """The `Notes` behind `events` when they are `NoteEvents` of notes (one event per note), else None:
    what reads events one by one reads these on the numbers instead."""
    return events.notes if isinstance(events, NoteEvents) and not events.chords else None


def event_starts(events: Sequence[Event]) -> tuple[np.ndarray, int]:
    """The start of each of `events` in ticks, and the ticks per quarter note: from the numbers of
    `NoteEvents` of notes, else from the events' own offsets."""
    notes = held_notes(events)
    if notes is not None:
        return notes.onset, notes.resolution
    starts = [start for start, *_ in event_onsets(events)]
    resolution = math.lcm(1, *{start.denominator for start in starts})
    return np.array([int(start * resolution) for start in starts], dtype=np.int64), resolution


def note_starts(events: Sequence[Event]) -> tuple[np.ndarray, int]:
    """The distinct start times of `events`' notes in ticks, and the ticks per quarter note."""
    notes = notes_of(events)
    return np.unique(notes.onset), notes.resolution


def events_span(events: Sequence[Event]) -> Fraction:
    """Quarter notes from the start of `events` to their last release (`events.span`)."""
    notes = notes_of(events)
    return Fraction(int((notes.onset + notes.length).max(initial=0)), notes.resolution)
