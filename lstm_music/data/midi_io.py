"""MIDI and score reading and writing: one file <-> one `events.Piece`.

All tracks and parts are read; percussion on General MIDI channel 10 is read as the instrument
``"drums"`` (unpitched parts of scores are left out). Notes of one instrument that start together
with the same duration form one chord (notes of different instruments never do); tied notes are
joined. Times are quantized to music21's grid (quarters divided by 4 and 3). Writing goes through
mido for MIDI and music21 for MusicXML.

music21 is imported lazily so that commands that only read the event cache start quickly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .events import Event, Piece, event_onsets, instruments_of, onsets_to_events
from .instruments import (
    DRUMS,
    PIANO,
    channels,
    instrument_name,
    played_on,
    program,
)
from .meter import Meter, unique

if TYPE_CHECKING:
    from music21 import stream

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")
QUARTER_LENGTH_DIVISORS = (4, 3)


class UnreadableFile(Exception):
    """A file that cannot become a piece; the message is the one-line reason shown to the user."""


BPM_RANGE = (4.0, 1000.0)  # tempi outside it are damage, not music: ignored when read, refused as --bpm


def plausible_bpm(bpm: float) -> float | None:
    """`bpm` rounded to 3 decimals if it lies in `BPM_RANGE`, else None (a tempo of 0 or 60 million
    quarter notes a minute says nothing about the piece, so the piece is read without it)."""
    return round(bpm, 3) if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None


def _check_readable(path: Path) -> None:
    """Raise `UnreadableFile` for an empty file, a `.mid` file without a MIDI header, or one of MIDI
    format 2 (each track a song of its own, with no common time line), which music21 cannot read."""
    with open(path, "rb") as handle:
        head = handle.read(10)
    if not head:
        raise UnreadableFile("empty file")
    if path.suffix.lower() in MIDI_SUFFIXES:
        if head[:4] != b"MThd":
            raise UnreadableFile("not a MIDI file (no MThd header)")
        if int.from_bytes(head[8:10], "big") == 2:
            raise UnreadableFile("MIDI format 2 (a song per track) is not supported: save it as format 1")


def _finish(path: Path, onsets: list, bpm: float | None, meters: list[Meter], grid: float = 1.0) -> Piece:
    events = onsets_to_events(onsets)
    if not events:
        raise UnreadableFile("no notes")
    return Piece(str(path), events, bpm, meters=unique(meters), grid=grid)


def on_grid(ticks: list[int], tpq: int) -> float:
    """The share of note starts at `ticks` (of `tpq` per quarter note) that lie on the grid of 16ths or
    triplet eighths, give or take a 96th of a quarter note (a sequencer's rounding, a little swing)."""
    if not ticks:
        return 1.0
    steps = [(t * 4 / tpq, t * 3 / tpq) for t in ticks]
    near = [min(abs(a - round(a)) / 4, abs(b - round(b)) / 3) <= 1 / 96 for a, b in steps]
    return sum(near) / len(near)


def quantized(time: Fraction) -> Fraction:
    """`time` (quarter notes) on the grid the notes are quantized to, as music21's `quantize` puts
    it: the nearest multiple of 1/4 or 1/3, the first divisor winning a tie."""
    nearest = [Fraction(round(time * d), d) for d in QUARTER_LENGTH_DIVISORS]
    return min(nearest, key=lambda t: abs(t - time))


def _midi_meter(tick: int, data: bytes, tpq: int) -> Meter | None:
    """The `Meter` of a MIDI time-signature event at `tick` (its data: numerator, log2 of the
    denominator, ...), or None for one that names no time signature. Its bar line is quantized as
    the notes are, so that a bar line and the notes that start on it stay together."""
    if len(data) < 2 or not 1 <= data[0] <= 64 or data[1] > 6:
        return None
    return Meter(quantized(Fraction(tick, tpq)), data[0], 2 ** data[1])


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


def _programs(tracks: list) -> dict[int, tuple[list[int], list[int]]]:
    """Per MIDI channel (1-16), the ticks of its program changes and the programs, in time order,
    in `tracks` (each a list of (tick, event))."""
    from music21 import midi

    changes: dict[int, list[tuple[int, int]]] = {}
    for timed in tracks:
        for tick, event in timed:
            if event.type == midi.ChannelVoiceMessages.PROGRAM_CHANGE and isinstance(event.data, int):
                changes.setdefault(event.channel, []).append((tick, event.data))
    return {channel: tuple(map(list, zip(*sorted(found), strict=True))) for channel, found in changes.items()}


def _instrument_at(own: dict, every: dict, channel: int, tick: int) -> int:
    """The instrument of a note struck at `tick` on `channel`: the program last set there
    (a program change at the note's own tick counts) by its own track if that track sets the
    channel's program (`own`), else by any track (`every`: a type-1 file may set it elsewhere);
    piano if none was."""
    ticks, values = own.get(channel) or every.get(channel) or ((), ())
    i = bisect_right(ticks, tick)
    return played_on(values[i - 1] if i else 0, channel)


def read_midi(path: Path, progress: Callable[[float], None] | None = None) -> Piece:
    """Read a MIDI file into a piece without building a full music21 score; `progress`, if given,
    is called with the share of the file read after each track (a huge file can take minutes).

    Uses music21's own MIDI track reading, chord grouping and quantization, but skips measure,
    tie and rest making, which take most of `converter.parse`'s time and are undone anyway. Each
    note keeps the instrument its channel's program says when it sounds; the notes of one track
    and instrument are grouped and quantized together. `read_score` gives the same events for
    one-instrument files (a test checks it over `midi_songs/`).
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
    tracks = [translate.getTimeForEvents(track) for track in midi_file.tracks]
    every = _programs(tracks)
    starts: list[int] = []  # every note's start as the file has it, before quantization
    for number, timed in enumerate(tracks, 1):
        played: dict[str, list] = {}
        own = _programs([timed])
        for n in translate.getNotesFromEvents(timed):
            played.setdefault(_instrument_at(own, every, n.event.channel, n.onTime), []).append(n)
            starts.append(n.onTime)
        for instrument, notes in played.items():
            if instrument == DRUMS:  # music21 reads channel 10 as unpitched and drops the note number: keep it
                for n in notes:
                    n.event.channel = 1
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
                onsets.append((Fraction(element.offset), Fraction(element.quarterLength), pitches, instrument))
        if progress is not None:
            progress(number / len(tracks))
    return _finish(path, onsets, _first_tempo(tracks), _time_signatures(tracks, tpq), on_grid(starts, tpq))


def _first_tempo(tracks: list) -> float | None:
    """The first plausible tempo mark of the timed `tracks`, in track order (`plausible_bpm`)."""
    from music21 import midi

    for timed in tracks:
        for _tick, event in timed:
            if event.type == midi.MetaEvents.SET_TEMPO:
                microseconds = midi.getNumber(event.data, 3)[0]
                bpm = plausible_bpm(60_000_000 / microseconds) if microseconds else None
                if bpm is not None:
                    return bpm
    return None


def _time_signatures(tracks: list, tpq: int) -> list[Meter]:
    """The time signatures of the conductor, the first of the timed `tracks` that has any (other
    tracks' copies may disagree where the parts do)."""
    from music21 import midi

    signed = [[(t, e.data) for t, e in timed if e.type == midi.MetaEvents.TIME_SIGNATURE] for timed in tracks]
    found = [
        _midi_meter(tick, data, tpq) for tick, data in next((s for s in signed if s), []) if isinstance(data, bytes)
    ]
    return [m for m in found if m is not None]


def score_instrument(found) -> int:
    """The instrument of a music21 `Instrument` (None: piano). A known instrument class
    (`Violin`) gives its General MIDI program, whatever program the file wrote for it (some corpus
    files give a violin part program 42); a generic one gives its own program, else piano."""
    if found is None:
        return PIANO
    default = type(found)().midiProgram if type(found).__name__ != "Instrument" else None
    chosen = default if default is not None else found.midiProgram
    return chosen if isinstance(chosen, int) and 0 <= chosen < 128 else PIANO


def read_score(path: Path) -> Piece:
    """Read any file music21 parses (MIDI or score) through a full `converter.parse`; each note
    plays the instrument in force in its part where it starts."""
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
        flat = part.stripTies().flatten()
        changes = [(Fraction(i.offset), score_instrument(i)) for i in flat.getElementsByClass(instrument.Instrument)]
        starts = [start for start, _ in changes]
        for element in flat.notes:
            if isinstance(element, note.Note):
                pitches = (element.pitch.midi,)
            elif isinstance(element, chord.Chord):
                pitches = tuple(p.midi for p in element.pitches)
            else:  # unpitched percussion
                continue
            i = bisect_right(starts, Fraction(element.offset))
            played = changes[i - 1][1] if i else (changes[0][1] if changes else PIANO)
            onsets.append((Fraction(element.offset), Fraction(element.quarterLength), pitches, played))
    marks = [m.getQuarterBPM() for m in score.flatten().getElementsByClass(tempo.MetronomeMark)]
    bpm = next((b for b in (plausible_bpm(float(m)) for m in marks if m) if b is not None), None)
    return _finish(path, onsets, bpm, score_meters(parts[0]))


def score_meters(part: stream.Stream) -> list[Meter]:
    """The time signatures of a score's `part`, each from its bar line; a pickup bar's signature
    from the bar line before the piece's start (its missing beats)."""
    from music21 import meter, stream

    measures = part.getElementsByClass(stream.Measure)
    pickup = Fraction(measures[0].paddingLeft) if measures else Fraction(0)
    found = part.flatten().getElementsByClass(meter.TimeSignature)
    return [
        Meter(Fraction(s.offset) - (pickup if s.offset == 0 else 0), s.numerator, s.denominator)
        for s in found
        if 1 <= s.numerator <= 64 and s.denominator in (1, 2, 4, 8, 16, 32, 64)
    ]


def read_piece(path: Path, progress: Callable[[float], None] | None = None) -> Piece:
    """Read one MIDI or score file; raise `UnreadableFile` with the reason if it has no music.
    `progress` is told the share read so far, as `read_midi` says (scores report only their end)."""
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi(path, progress)
    return read_score(path)


def playable_notes(events: list[Event]) -> list[tuple[Fraction, Fraction, int, int]]:
    """(onset, length, pitch, instrument) of every note of `events` as MIDI can hold them (see
    `playable`), in time order; zero-length notes are left out."""
    starts: dict[tuple[int, int], dict[Fraction, Fraction]] = {}
    for now, length, pitches, instrument in event_onsets(events):
        for pitch in pitches:
            notes = starts.setdefault((instrument, pitch), {})
            notes[now] = max(notes.get(now, Fraction(0)), length)
    out = []
    for (instrument, pitch), notes in starts.items():
        times = sorted(notes)
        for i, start in enumerate(times):
            end = start + notes[start]
            if i + 1 < len(times):
                end = min(end, times[i + 1])
            if end > start:
                out.append((start, end - start, pitch, instrument))
    return sorted(out, key=lambda n: (n[0], n[2], n[3], n[1]))


def playable(events: list[Event]) -> list[Event]:
    """`events` as MIDI can hold them: a note still sounding when its instrument strikes its pitch
    again ends there.

    A MIDI channel sounds each pitch once at a time, so overlapping repeats of one pitch (which a
    model can generate) would otherwise be cut or dropped by the MIDI writer and reader in ways
    that depend on the tool. Cut chord members that now end apart become separate events.
    """
    return onsets_to_events([(start, length, (pitch,), i) for start, length, pitch, i in playable_notes(events)])


def _as_played(events: list[Event], forced: int | None) -> list[Event]:
    """`events` on their own instruments, or all on General MIDI program `forced` (drums stay drums)."""
    if forced is None:
        return events
    sounds = event_onsets(events)  # offsets count from the event before: re-time from absolute onsets
    return onsets_to_events([(s, n, p, i if i == DRUMS else forced) for s, n, p, i in sounds])


def events_to_score(
    events: list[Event], forced: int | None = None, bpm: float = 120.0, meter: tuple[int, int] | None = None
) -> stream.Score:
    """Build a music21 score that plays `playable(events)` at `bpm`, one part per instrument (all on
    General MIDI program `forced` if given), in the time signature `meter` (numerator, denominator;
    music21's 4/4 if None), for MusicXML."""
    from music21 import chord, instrument, note, pitch, stream, tempo
    from music21.meter import TimeSignature

    played = playable(_as_played(events, forced))
    timed = event_onsets(played)
    score = stream.Score()
    for played_by in instruments_of(played):
        part = stream.Part()
        part.partName = instrument_name(played_by)
        part.insert(
            0,
            instrument.Percussion() if played_by == DRUMS else instrument.instrumentFromMidiProgram(program(played_by)),
        )
        if not score.parts:
            part.insert(0, tempo.MetronomeMark(number=bpm))
        if meter is not None:
            part.insert(0, TimeSignature(f"{meter[0]}/{meter[1]}"))
        for now, length, pitches, _ in (sound for sound in timed if sound[3] == played_by):
            # Pitch(midi=...): music21 reads a bare number below 12 as a pitch class in octave 4
            sounds = [pitch.Pitch(midi=p) for p in pitches]
            sound = note.Note(sounds[0]) if len(sounds) == 1 else chord.Chord(sounds)
            sound.quarterLength = length
            part.insert(now, sound)
        score.insert(0, part)
    return score


TICKS_PER_QUARTER = 480  # divisible by 4 and 3, so every onset and length on the grid is a whole tick


def write_midi(
    events: list[Event], path: Path, forced: int | None = None, bpm: float = 120.0, meter: tuple[int, int] | None = None
) -> Path:
    """Write `playable(events)` as a MIDI file at `bpm` in the time signature `meter` (numerator,
    denominator; none written if None, which MIDI reads as 4/4): one track per instrument, named
    after it, on its own channel with its program (`instruments.channels`: drums on channel 10,
    never a pitched instrument), or everything on General MIDI program `forced` if given; return
    the path written.
    One instrument gives a one-track file (type 0), several a type-1 file with the tempo in the first.

    The file is built from the events directly with mido (about a millisecond per 100 notes), not
    through a music21 score, whose chord spelling made writing a piece take seconds; music21 stays
    for MusicXML (`events_to_score`). At one tick, note-offs come before note-ons, so a note struck
    again right where the last one ends sounds twice.
    """
    import mido

    notes = playable_notes(_as_played(events, forced))
    used = sorted({instrument for *_, instrument in notes}) or [forced or PIANO]
    channel = channels(used)
    tracks = []
    for played_by in used:
        timeline = []  # (tick, note-offs first, pitch)
        for now, length, pitch, instrument in notes:
            if instrument == played_by:
                timeline.append((round(now * TICKS_PER_QUARTER), 1, pitch))
                timeline.append((round((now + length) * TICKS_PER_QUARTER), 0, pitch))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=instrument_name(played_by), time=0)])
        if not tracks:
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
            if meter is not None:
                track.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0))
        if played_by != DRUMS:
            track.append(mido.Message("program_change", program=program(played_by), channel=channel[played_by], time=0))
        tick = 0
        for when, on, pitch in sorted(timeline):
            kind = "note_on" if on else "note_off"
            message = mido.Message(
                kind, skip_checks=True, note=pitch, velocity=90 * on, channel=channel[played_by], time=when - tick
            )
            track.append(message)
            tick = when
        track.append(mido.MetaMessage("end_of_track", time=0))
        tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mido.MidiFile(type=0 if len(tracks) == 1 else 1, ticks_per_beat=TICKS_PER_QUARTER, tracks=tracks).save(str(path))
    return path
