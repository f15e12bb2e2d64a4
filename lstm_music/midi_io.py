"""MIDI and score reading and writing: one piece <-> one list of (note, offset, duration) events.

An *event* is what the model predicts at each step, as three string tokens:

* ``note``: one pitch (``"C#4"``, always spelled with sharps, one token per MIDI number) or a
  chord of its actual sorted pitches joined by dots (``"C3.E3.G3"``), so voicings survive;
* ``offset``: quarter lengths since the previous event's onset (the first event counts from 0);
* ``duration``: quarter lengths the note or chord sounds.

Times are exact fractions on music21's quantization grid, written canonically: a finite decimal
where one exists (``"0.5"``, ``"2"``) and ``"p/q"`` otherwise (``"1/3"``). All tracks and parts are
merged; percussion (General MIDI channel 10, or unpitched parts in scores) is left out. Notes that
start together with the same duration form one chord; tied notes are joined. Parsed pieces keep
their chords; `split_chords` takes them apart into one event per note, the form the model learns
from, and `join_chords` puts them together again.

music21 is imported lazily so that commands that only read the event cache start quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from music21 import stream

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")
QUARTER_LENGTH_DIVISORS = (4, 3)
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PERCUSSION_CHANNEL = 10


class Event(NamedTuple):
    """One step of a piece: what sounds, how long after the previous onset, and for how long."""

    note: str
    offset: str
    duration: str


@dataclass
class Piece:
    """The events of one file, in time order, and its first tempo mark (quarter notes per minute)."""

    path: str
    events: list[Event] = field(default_factory=list)
    bpm: float | None = None


class UnreadableFile(Exception):
    """A file that cannot become a piece; the message is the one-line reason shown to the user."""


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


def onsets_to_events(onsets: list[tuple[Fraction, Fraction, tuple[int, ...]]]) -> list[Event]:
    """Turn (absolute offset, duration, pitches) triples into events.

    Sounds with the same onset and duration merge into one chord; zero-length sounds (grace
    notes) are dropped. Events at the same onset go lowest pitch first.
    """
    groups: dict[tuple[Fraction, Fraction], set[int]] = {}
    for start, length, pitches in onsets:
        if length > 0:
            groups.setdefault((start, length), set()).update(pitches)
    ordered = sorted((start, tuple(sorted(p)), length) for (start, length), p in groups.items())
    events = []
    previous = Fraction(0)
    for start, pitches, length in ordered:
        events.append(Event(note_token(pitches), format_ql(start - previous), format_ql(length)))
        previous = start
    return events


BPM_RANGE = (4.0, 1000.0)  # tempi outside it are damage, not music: ignored when read, refused as --bpm


def plausible_bpm(bpm: float) -> float | None:
    """`bpm` rounded to 3 decimals if it lies in `BPM_RANGE`, else None (a tempo of 0 or 60 million
    quarter notes a minute says nothing about the piece, so the piece is read without it)."""
    return round(bpm, 3) if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None


def _check_readable(path: Path) -> None:
    """Raise `UnreadableFile` for an empty file or a `.mid` file without a MIDI header."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise UnreadableFile("empty file")
    if path.suffix.lower() in MIDI_SUFFIXES and head != b"MThd":
        raise UnreadableFile("not a MIDI file (no MThd header)")


def _finish(path: Path, onsets: list, bpm: float | None) -> Piece:
    events = onsets_to_events(onsets)
    if not events:
        raise UnreadableFile("no pitched notes")
    return Piece(str(path), events, bpm)


def _chord_groups(notes: list, tolerance: float) -> list[list]:
    """Group timed notes into chords exactly as music21's `midiTrackToStream` does.

    A note joins the chord of an earlier note when both its start and its end lie within
    `tolerance` ticks of that note's; notes that start together but end apart stay separate.
    """
    taken = [False] * len(notes)
    groups = []
    for i, first in enumerate(notes):
        if taken[i]:
            continue
        group = [first]
        for j in range(i + 1, len(notes)):
            if abs(notes[j].onTime - first.onTime) >= tolerance:
                break
            if abs(notes[j].offTime - first.offTime) <= tolerance:
                group.append(notes[j])
                taken[j] = True
        groups.append(group)
    return groups


def read_midi(path: Path) -> Piece:
    """Read a MIDI file into a piece without building a full music21 score.

    Uses music21's own MIDI track reading, chord grouping and quantization, but skips measure,
    tie and rest making, which take most of `converter.parse`'s time and are undone anyway.
    `read_score` gives the same events (a test checks it over `midi_songs/`).
    """
    from music21 import midi, stream
    from music21.midi import translate

    _check_readable(path)
    midi_file = midi.MidiFile()
    try:
        midi_file.open(str(path))
        midi_file.read()
    except Exception as error:  # music21 raises bare Exceptions and struct errors on bad bytes
        raise UnreadableFile(f"cannot read MIDI: {error}") from error
    finally:
        midi_file.close()
    tpq = midi_file.ticksPerQuarterNote
    onsets = []
    bpm = None
    for track in midi_file.tracks:
        timed = translate.getTimeForEvents(track)
        if bpm is None:
            for _tick, event in timed:
                if event.type == midi.MetaEvents.SET_TEMPO:
                    microseconds = midi.getNumber(event.data, 3)[0]
                    bpm = plausible_bpm(60_000_000 / microseconds) if microseconds else None
                    if bpm is not None:
                        break
        notes = [n for n in translate.getNotesFromEvents(timed) if n.event.channel != PERCUSSION_CHANNEL]
        if not notes:
            continue
        part = stream.Part()
        for group in _chord_groups(notes, tpq / max(QUARTER_LENGTH_DIVISORS)):
            if len(group) == 1:
                element = translate.midiEventsToNote(group[0], tpq)
            else:
                element = translate.midiEventsToChord(group, tpq)
            part.coreInsert(Fraction(group[0].onTime, tpq), element)
        part.sort(force=True)
        part.quantize(QUARTER_LENGTH_DIVISORS, processOffsets=True, processDurations=True, inPlace=True)
        for element in part.notes:
            pitches = tuple(p.midi for p in element.pitches)
            onsets.append((Fraction(element.offset), Fraction(element.quarterLength), pitches))
    return _finish(path, onsets, bpm)


def read_score(path: Path) -> Piece:
    """Read any file music21 parses (MIDI or score) through a full `converter.parse`."""
    from music21 import chord, converter, instrument, note, stream, tempo

    _check_readable(path)
    try:
        score = converter.parse(str(path), forceSource=True, quarterLengthDivisors=QUARTER_LENGTH_DIVISORS)
    except Exception as error:  # music21 raises many exception types for malformed input
        raise UnreadableFile(f"cannot parse: {type(error).__name__}: {error}".splitlines()[0]) from error
    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    onsets = []
    for part in parts:
        if isinstance(part.getInstrument(returnDefault=False), instrument.UnpitchedPercussion):
            continue
        for element in part.stripTies().flatten().notes:
            if isinstance(element, note.Note):
                pitches = (element.pitch.midi,)
            elif isinstance(element, chord.Chord):
                pitches = tuple(p.midi for p in element.pitches)
            else:  # unpitched percussion
                continue
            onsets.append((Fraction(element.offset), Fraction(element.quarterLength), pitches))
    marks = [m.getQuarterBPM() for m in score.flatten().getElementsByClass(tempo.MetronomeMark)]
    bpm = next((b for b in (plausible_bpm(float(m)) for m in marks if m) if b is not None), None)
    return _finish(path, onsets, bpm)


def read_piece(path: Path) -> Piece:
    """Read one MIDI or score file; raise `UnreadableFile` with the reason if it has no music."""
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi(path)
    return read_score(path)


def event_onsets(events: list[Event]) -> list[tuple[Fraction, Fraction, tuple[int, ...]]]:
    """(absolute offset, duration, pitches) of each event: the inverse of `onsets_to_events`."""
    now, out = Fraction(0), []
    for event in events:
        now += parse_ql(event.offset)
        out.append((now, parse_ql(event.duration), token_pitches(event.note)))
    return out


def split_chords(events: list[Event]) -> list[Event]:
    """`events` with every chord taken apart: one event per note, lowest pitch first at each onset.

    A chord's notes keep its duration; the first of them keeps its offset and the others are 0
    after it. This is the note-level form the model learns from (`vocab.represent`).
    """
    notes = sorted((start, pitch, length) for start, length, pitches in event_onsets(events) for pitch in pitches)
    out, previous = [], Fraction(0)
    for start, pitch, length in notes:
        out.append(Event(pitch_name(pitch), format_ql(start - previous), format_ql(length)))
        previous = start
    return out


def join_chords(events: list[Event]) -> list[Event]:
    """`events` (notes or chords) with the notes that start together with the same duration made one chord.

    The inverse of `split_chords`; for parsed pieces, which are already grouped so, it changes nothing.
    """
    return onsets_to_events(event_onsets(events))


def span(events: list[Event]) -> Fraction:
    """Quarter notes from the first onset to the last release."""
    return max((start + length for start, length, _ in event_onsets(events)), default=Fraction(0))


def playable_notes(events: list[Event]) -> list[tuple[Fraction, Fraction, int]]:
    """(onset, length, pitch) of every note of `events` as MIDI can hold them (see `playable`),
    in time order; zero-length notes are left out."""
    starts: dict[int, dict[Fraction, Fraction]] = {}
    for now, length, pitches in event_onsets(events):
        for pitch in pitches:
            notes = starts.setdefault(pitch, {})
            notes[now] = max(notes.get(now, Fraction(0)), length)
    out = []
    for pitch, notes in starts.items():
        times = sorted(notes)
        for i, start in enumerate(times):
            end = start + notes[start]
            if i + 1 < len(times):
                end = min(end, times[i + 1])
            if end > start:
                out.append((start, end - start, pitch))
    return sorted(out)


def playable(events: list[Event]) -> list[Event]:
    """`events` as MIDI can hold them: a note still sounding when its pitch is struck again ends there.

    A MIDI channel sounds each pitch once at a time, so overlapping repeats of one pitch (which a
    model can generate) would otherwise be cut or dropped by the MIDI writer and reader in ways
    that depend on the tool. Cut chord members that now end apart become separate events.
    """
    return onsets_to_events([(start, length, (pitch,)) for start, length, pitch in playable_notes(events)])


def events_to_score(events: list[Event], program: int = 0, bpm: float = 120.0) -> stream.Score:
    """Build a one-part music21 score that plays `playable(events)` on General MIDI `program` at `bpm`."""
    from music21 import chord, instrument, note, pitch, stream, tempo

    part = stream.Part()
    part.insert(0, instrument.instrumentFromMidiProgram(program))
    part.insert(0, tempo.MetronomeMark(number=bpm))
    for now, length, pitches in event_onsets(playable(events)):
        # Pitch(midi=...): music21 reads a bare number below 12 as a pitch class in octave 4
        sounds = [pitch.Pitch(midi=p) for p in pitches]
        sound = note.Note(sounds[0]) if len(sounds) == 1 else chord.Chord(sounds)
        sound.quarterLength = length
        part.insert(now, sound)
    score = stream.Score()
    score.insert(0, part)
    return score


TICKS_PER_QUARTER = 480  # divisible by 4 and 3, so every onset and length on the grid is a whole tick


def write_midi(events: list[Event], path: Path, program: int = 0, bpm: float = 120.0) -> Path:
    """Write `playable(events)` as a one-track MIDI file on channel 1 with General MIDI `program` at
    `bpm`; return the path written.

    The file is built from the events directly with mido (about a millisecond per 100 notes), not
    through a music21 score, whose chord spelling made writing a piece take seconds; music21 stays
    for MusicXML (`events_to_score`). At one tick, note-offs come before note-ons, so a note struck
    again right where the last one ends sounds twice.
    """
    import mido

    timeline = []  # (tick, note-offs first, pitch)
    for now, length, pitch in playable_notes(events):
        timeline.append((round(now * TICKS_PER_QUARTER), 1, pitch))
        timeline.append((round((now + length) * TICKS_PER_QUARTER), 0, pitch))
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
            mido.Message("program_change", program=program, channel=0, time=0),
        ]
    )
    tick = 0
    for when, on, pitch in sorted(timeline):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, skip_checks=True, note=pitch, velocity=90 * on, channel=0, time=when - tick))
        tick = when
    track.append(mido.MetaMessage("end_of_track", time=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_QUARTER, tracks=[track]).save(str(path))
    return path
