"""Events: one piece as a list of (pitches, offset, duration, instrument), all numbers.

An *event* is what the model predicts at each step:

* ``pitches``: the sorted MIDI numbers that sound: one for a note, several for a chord, whose
  actual voicing is kept (a drum's numbers are its sounds);
* ``offset``: quarter notes since the previous event's onset, an exact `Fraction` (the first event
  counts from 0);
* ``duration``: quarter notes the note or chord sounds;
* ``instrument``: what plays it (`instruments`): the General MIDI program of its track or channel
  at the time it sounds (40, a violin; 0, the piano, where none is named), or `instruments.DRUMS`.

An event becomes text only as vocabulary tokens, at the model's edge (`tokens`); a field that a
vocabulary could not name (``<unk>``) is None. Parsed pieces keep their chords; the model learns
from one event per note (`notes.Notes.note_events`), and `join_chords` puts chords together again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from .instruments import DRUMS, PIANO
from .meter import Meter


class Event(NamedTuple):
    """One step of a piece: what sounds, how long after the previous onset, for how long, and on what."""

    pitches: tuple[int, ...]
    offset: Fraction
    duration: Fraction
    instrument: int = PIANO


def unknown(event: Event) -> bool:
    """Whether a field of `event` is ``<unk>`` (None): a rare token of a decoded piece."""
    return None in event


Sound = tuple[Fraction, Fraction, tuple[int, ...], int]  # (onset, length, pitches, instrument)


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


def onsets_to_events(onsets: list[Sound]) -> list[Event]:
    """Turn (absolute offset, duration, pitches, instrument) sounds into events.

    Sounds of one instrument with the same onset and duration merge into one chord; zero-length
    sounds (grace notes) are dropped. Events at the same onset go lowest pitch first.
    """
    groups: dict[tuple[Fraction, Fraction, int], set[int]] = {}
    for start, length, pitches, instrument in onsets:
        if length > 0:
            groups.setdefault((start, length, instrument), set()).update(pitches)
    ordered = sorted((start, tuple(sorted(p)), instrument, length) for (start, length, instrument), p in groups.items())
    events = []
    previous = Fraction(0)
    for start, pitches, instrument, length in ordered:
        events.append(Event(pitches, start - previous, length, instrument))
        previous = start
    return events


def event_onsets(events: list[Event]) -> list[Sound]:
    """(absolute offset, duration, pitches, instrument) of each event: the inverse of `onsets_to_events`."""
    now, out = Fraction(0), []
    for event in events:
        now += event.offset
        out.append((now, event.duration, event.pitches, event.instrument))
    return out


def join_chords(events: list[Event]) -> list[Event]:
    """`events` (notes or chords) with the notes of one instrument that start together with the same
    duration made one chord.

    The inverse of taking chords apart (`notes.Notes.note_events`); for parsed pieces, which are
    already grouped so, it changes nothing.
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


def merge_instruments(events: list[Event], instrument: int = PIANO) -> list[Event]:
    """`events` all played by `instrument`, chords of different instruments that start together with
    the same duration joined (what a model without an instrument stream reads and writes)."""
    if all(event.instrument == instrument for event in events):  # one instrument's chords are joined already
        return events
    return join_chords([event._replace(instrument=instrument) for event in events])


def instruments_of(events: list[Event]) -> list[int]:
    """The instruments `events` use, in General MIDI order (drums last)."""
    return sorted({event.instrument for event in events})
