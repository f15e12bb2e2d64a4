"""Events: one piece as a list of (note, offset, duration, instrument), and the tokens they are made of.

An *event* is what the model predicts at each step, as string tokens:

* ``note``: one pitch (``"C#4"``, always spelled with sharps, one token per MIDI number) or a
  chord of its actual sorted pitches joined by dots (``"C3.E3.G3"``), so voicings survive;
* ``offset``: quarter lengths since the previous event's onset (the first event counts from 0);
* ``duration``: quarter lengths the note or chord sounds;
* ``instrument``: what plays it (`instruments`): the General MIDI program of its track or channel
  at the time it sounds (``"40"``, a violin; ``"0"``, piano, where none is named), or ``"drums"``.

Times are exact fractions, written canonically: a finite decimal where one exists (``"0.5"``,
``"2"``) and ``"p/q"`` otherwise (``"1/3"``). Parsed pieces keep their chords; `split_chords`
takes them apart into one event per note, the form the model learns from, and `join_chords` puts
them together again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from .instruments import (
    DRUMS,
    PIANO,
    order,
)
from .meter import Meter

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class Event(NamedTuple):
    """One step of a piece: what sounds, how long after the previous onset, for how long, and on what."""

    note: str
    offset: str
    duration: str
    instrument: str = PIANO

    @property
    def pitches(self) -> tuple[int, ...]:
        """The sorted MIDI numbers the note token sounds (parsed once per distinct token)."""
        return token_pitches(self.note)


Sound = tuple[Fraction, Fraction, tuple[int, ...], str]  # (onset, length, pitches, instrument)


@dataclass
class Piece:
    """The events of one file, in time order, its first tempo mark (quarter notes per minute), its
    style (`styles`), if it has one, its time signatures (`meter.Meter`s; none: none was written)
    and how much of it the file placed on the grid of 16ths and triplets (a MIDI file recorded
    without a click places little of it there). The events are a list, or `notes.NoteEvents` made
    from numbers when read."""

    path: str
    events: Sequence[Event] = field(default_factory=list)
    bpm: float | None = None
    style: str | None = None
    meters: tuple[Meter, ...] = ()
    grid: float = 1.0  # the share of its notes that the file started on the grid, before quantization


def pitch_name(midi: int) -> str:
    """Spell MIDI number `midi` with sharps and scientific octave: 60 -> ``"C4"``."""
    return f"{PITCH_NAMES[midi % 12]}{midi // 12 - 1}"


def pitch_number(name: str) -> int:
    """Inverse of `pitch_name`: ``"C#4"`` -> 61."""
    split = 2 if len(name) > 1 and name[1] == "#" else 1
    return PITCH_NAMES.index(name[:split]) + 12 * (int(name[split:]) + 1)


def note_token(pitches: tuple[int, ...] | list[int]) -> str:
    """The token of a note (one pitch) or chord (several): sorted pitch names joined by dots."""
    return ".".join(pitch_name(p) for p in sorted(set(pitches)))


@lru_cache(maxsize=65536)
def token_pitches(token: str) -> tuple[int, ...]:
    """The sorted MIDI numbers a note token sounds."""
    return tuple(pitch_number(name) for name in token.split("."))


@lru_cache(maxsize=4096)  # a piece has few distinct times; formatting each once makes splitting cheap
def format_ql(value: Fraction) -> str:
    """Canonical text of a quarter length: exact decimal if finite (``"0.25"``), else ``"1/3"``."""
    value = Fraction(value)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest == 1:
        text = str(Decimal(value.numerator) / Decimal(value.denominator))
        return text if "E" not in text else format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return f"{value.numerator}/{value.denominator}"


@lru_cache(maxsize=4096)
def parse_ql(text: str) -> Fraction:
    """Inverse of `format_ql`."""
    return Fraction(text)


def onsets_to_events(onsets: list[Sound]) -> list[Event]:
    """Turn (absolute offset, duration, pitches, instrument) sounds into events.

    Sounds of one instrument with the same onset and duration merge into one chord; zero-length
    sounds (grace notes) are dropped. Events at the same onset go lowest pitch first.
    """
    groups: dict[tuple[Fraction, Fraction, str], set[int]] = {}
    for start, length, pitches, instrument in onsets:
        if length > 0:
            groups.setdefault((start, length, instrument), set()).update(pitches)
    ordered = sorted(
        (start, tuple(sorted(p)), order(instrument), length, instrument)
        for (start, length, instrument), p in groups.items()
    )
    events = []
    previous = Fraction(0)
    for start, pitches, _, length, instrument in ordered:
        events.append(Event(note_token(pitches), format_ql(start - previous), format_ql(length), instrument))
        previous = start
    return events


def event_onsets(events: list[Event]) -> list[Sound]:
    """(absolute offset, duration, pitches, instrument) of each event: the inverse of `onsets_to_events`."""
    now, out = Fraction(0), []
    for event in events:
        now += parse_ql(event.offset)
        out.append((now, parse_ql(event.duration), event.pitches, event.instrument))
    return out


def split_chords(events: list[Event]) -> list[Event]:
    """`events` with every chord taken apart: one event per note, lowest pitch first at each onset.

    A chord's notes keep its duration; the first of them keeps its offset and the others are 0
    after it. This is the note-level form the model learns from (`preparation.represent`).
    """
    notes = sorted(
        (start, pitch, order(instrument), length, instrument)
        for start, length, pitches, instrument in event_onsets(events)
        for pitch in pitches
    )
    out, previous = [], Fraction(0)
    for start, pitch, _, length, instrument in notes:
        out.append(Event(pitch_name(pitch), format_ql(start - previous), format_ql(length), instrument))
        previous = start
    return out


def join_chords(events: list[Event]) -> list[Event]:
    """`events` (notes or chords) with the notes of one instrument that start together with the same
    duration made one chord.

    The inverse of `split_chords`; for parsed pieces, which are already grouped so, it changes nothing.
    """
    return onsets_to_events(event_onsets(events))


def span(events: list[Event]) -> Fraction:
    """Quarter notes from the first onset to the last release."""
    return max((start + length for start, length, _, _ in event_onsets(events)), default=Fraction(0))


def without_drums(events: list[Event]) -> list[Event]:
    """`events` without the drums' (their offsets re-counted between the events that remain)."""
    if all(event.instrument != DRUMS for event in events):
        return events
    return onsets_to_events([sound for sound in event_onsets(events) if sound[3] != DRUMS])


def merge_instruments(events: list[Event], instrument: str = PIANO) -> list[Event]:
    """`events` all played by `instrument`, chords of different instruments that start together with
    the same duration joined (what a model without an instrument stream reads and writes)."""
    if all(event.instrument == instrument for event in events):  # one instrument's chords are joined already
        return events
    return join_chords([event._replace(instrument=instrument) for event in events])


def instruments_of(events: list[Event]) -> list[str]:
    """The instruments `events` use, in General MIDI order (drums last)."""
    return sorted({event.instrument for event in events}, key=order)
