"""The generation run behind `generate_music.py`: load a checkpoint, sample, write MIDI."""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..backend import set_threads
from ..data.encoding import decode_events, encode_piece
from ..data.events import (
    Event,
    instruments_of,
    join_chords,
    merge_instruments,
    span,
    without_drums,
)
from ..data.instruments import instrument_name
from ..data.instruments import program as gm_program
from ..data.meter import Meter, meter_at, time_signature
from ..data.midi_io import UnreadableFile, events_to_score, read_piece, write_midi
from ..data.notes import event_starts
from ..data.preparation import prepare_notes, represented, transpose_folded
from ..data.styles import NONE, resolve_style
from ..data.vocab import same_onset_index, unknown_notes, unknown_warning
from ..files import reason, write_atomically
from ..streams import INSTRUMENT, SPECIALS
from .conditions import Bars, draw_meters, make_bars

if TYPE_CHECKING:
    from ..model.checkpoint import Metadata
    from ..settings import GenerateSettings

# Up to this many pieces at once, each TensorFlow operation of generation runs on one thread: faster on
# 2 cores for the compiled loop's small operations at 1 to 64 pieces, about even at 256 (docs/BENCHMARKS.md).
ONE_THREAD_BATCH = 256


class GenerationError(Exception):
    """A setting or input that generation cannot use; the message names it."""


def instrument_program(text: str) -> int | None:
    """A General MIDI program number from a number (0-127) or an instrument name music21 knows;
    None for an empty text (each event keeps its own instrument)."""
    if not text.strip():
        return None
    if text.strip().isdigit():
        program = int(text)
        if program > 127:
            raise GenerationError(f"--instrument {text}: General MIDI programs are 0-127")
        return program
    from music21 import instrument

    try:
        program = instrument.fromString(text).midiProgram
    except instrument.InstrumentException:
        program = None
    if program is None:
        raise GenerationError(f"--instrument {text!r}: not a General MIDI instrument name or number")
    return program


def describe(path: Path, events: list[Event], bpm: float) -> str:
    """The one line printed per written file."""
    pitches = [p for event in events for p in event.pitches]
    onsets = len(join_chords(events))
    used = instruments_of(events)
    played = f", {len(used)} instruments ({', '.join(map(instrument_name, used))})" if len(used) > 1 else ""
    return (
        f"{path}: {len(pitches)} notes ({onsets} notes and chords), {float(span(events)) * 60 / bpm:.1f} s, "
        f"{len(set(pitches))} distinct pitches{played}"
    )


def write_music(
    events: list[Event],
    path: Path,
    program: int | None,
    bpm: float,
    musicxml: bool,
    png: bool = False,
    meter: tuple[int, int] | None = None,
) -> None:
    """Write the MIDI file (and sheet music and a piano roll beside it) atomically, each instrument
    its own track or part, or all on General MIDI `program` if given, in the time signature `meter`
    (numerator, denominator) if given; an I/O failure (a folder where the file should go, a
    read-only place, a full disk) becomes a one-line `GenerationError`, and the files written before
    it stay."""
    target = path
    try:
        write_atomically(path, lambda temporary: write_midi(events, temporary, program, bpm, meter))
        if musicxml:
            target = path.with_suffix(".musicxml")
            score = events_to_score(events, program, bpm, meter)
            write_atomically(target, lambda temporary: score.write("musicxml", fp=str(temporary)))
            print(f"sheet music: {target}")
        if png:
            from ..render.pictures import piano_roll

            shown = events if program is None else merge_instruments(events, program)
            target = path.with_suffix(".png")
            print(f"piano roll: {piano_roll(shown, target, bpm)}")
    except OSError as error:
        raise GenerationError(f"cannot write {target}: {reason(error)}") from error


def write_audio(paths: list[Path], soundfont: bytes) -> None:
    """Render each written MIDI file to a WAV file beside it (same name, `.wav`). Runs after every
    MIDI file of the batch is written, so a failing render loses no piece."""
    from ..render.audio import AudioError, midi_to_wav

    for path in paths:
        target = path.with_suffix(".wav")
        try:
            print(f"audio: {midi_to_wav(path, target, soundfont)}")
        except AudioError as error:
            raise GenerationError(f"cannot render {target}: {error}") from error
        except OSError as error:
            raise GenerationError(f"cannot write {target}: {reason(error)}") from error


def list_styles(settings: GenerateSettings) -> None:
    """Print the styles of the checkpoint `settings` names, with their training piece counts."""
    from ..model.checkpoint import read_metadata, resolve_checkpoint

    path = resolve_checkpoint(settings.checkpoint, settings.weights_dir)
    metadata = read_metadata(path)
    pieces = metadata.style_pieces
    if not metadata.styles:
        print(f"{path}: no styles (trained on one unlabelled mix)")
        return
    print(f"{path}: {len(metadata.styles)} styles")
    for name in metadata.styles:
        print(f"{name}\t{pieces.get(name, 0)} training piece{'s' * (pieces.get(name, 0) != 1)}")
    print(f"(without --style: the unlabelled mix; {pieces.get(NONE, 0)} unlabelled training pieces)")


def audio_soundfont(path: str) -> bytes:
    """The SoundFont for `--wav` (`path`, or the default), loaded and checked."""
    from ..render.audio import AudioError, load_soundfont

    try:
        return load_soundfont(path)
    except AudioError as error:
        raise GenerationError(str(error)) from error


class Primer(NamedTuple):
    """A `--primer` file as generation uses it (`read_primer`)."""

    events: list[Event]  # as read
    rows: np.ndarray  # encoded as the checkpoint sees it
    shift: int  # semitones to the common key (0 without one)
    meter: Meter  # the time signature in force at its last event
    starts: list[Fraction]  # each row's start in quarter notes from a bar line of `meter`


def read_primer(primer: str, metadata: Metadata, vocabularies: dict) -> Primer:
    """The `--primer` file's events as read, its encoded rows as the checkpoint sees them (drums
    left out unless learned, instruments merged for a one-instrument model or played as the model's,
    moved to the common key and represented like the training pieces), the shift to that key, and
    where its bars lie."""
    try:
        piece = read_piece(Path(primer))
    except FileNotFoundError as error:
        raise GenerationError(f"--primer {primer}: file does not exist") from error
    except UnreadableFile as error:
        raise GenerationError(f"--primer {primer}: {error}") from error
    except OSError as error:  # a folder, a symbolic-link loop, no permission
        raise GenerationError(f"--primer {primer}: cannot read it: {reason(error)}") from error
    if not metadata.drums:
        piece = replace(piece, events=without_drums(piece.events))
        if not piece.events:
            raise GenerationError(f"--primer {primer}: it holds only drums, which the checkpoint did not learn")
    # on the model's instruments, in its key: it continues a primer in C major / A minor, moved back after
    notes, shift = prepare_notes(piece, metadata.common_key, INSTRUMENT in vocabularies, metadata.plays_as)
    events, piece = piece.events, replace(piece, events=represented(notes, metadata.representation))
    warning = unknown_warning(unknown_notes([piece], vocabularies), "primer")
    if warning:
        print(warning)
    ticks, resolution = event_starts(piece.events)
    meter = meter_at(piece.meters, Fraction(int(ticks[-1]), resolution))
    starts = [Fraction(int(t), resolution) - meter.start for t in ticks]
    return Primer(events, encode_piece(piece, vocabularies)[1:], shift, meter, starts)


def piece_meters(metadata: Metadata, count: int, seed: int, style: int, asked: str) -> list[Meter]:
    """The time signature of each of `count` pieces: `asked` (``"3/4"``, from `--time-signature`), or
    each a training piece's drawn at random (the piece that lends it its register, among the pieces
    of `style`); `GenerationError` for a time signature the checkpoint cannot write. Without meter
    in the checkpoint: none."""
    known = metadata.meters
    if not known:
        if asked:
            raise GenerationError(f"--time-signature {asked}: this checkpoint was trained without meter")
        return []
    if asked:
        try:
            numerator, denominator = time_signature(asked)
        except ValueError as error:
            raise GenerationError(f"--time-signature: {error}") from None
        if f"{numerator}/{denominator}" not in known:
            listed = ", ".join(t for t in known if t not in SPECIALS)
            raise GenerationError(f"--time-signature {asked}: the checkpoint knows {listed}")
        return [Meter(Fraction(0), numerator, denominator)] * count
    return draw_meters(metadata, count, seed, style)


def bar_lead(bars: Bars | None, primer: Primer | None, keep_primer: bool) -> Fraction:
    """The rest that puts a bar line at the start of the file written: 0 without a primer (pieces
    start on a bar line); with one, how far into its bar the file's first event (the primer's first,
    with `keep_primer`, else its last) starts."""
    if bars is None or primer is None:
        return Fraction(0)
    first = -primer.meter.start if keep_primer else primer.starts[-1]
    bar = Fraction(int(bars.pieces[0, 1]), bars.resolution)
    return first % bar


def generate(settings: GenerateSettings) -> list[Path]:
    """Generate `settings.count` pieces as `settings` says; return the paths written."""
    from ..model.checkpoint import BASE_RUN, load_checkpoint, read_metadata, resolve_checkpoint

    program = instrument_program(settings.instrument)
    wanted = settings.wav or settings.soundfont
    soundfont = audio_soundfont(settings.soundfont) if wanted else None  # checked before sampling
    path = resolve_checkpoint(settings.checkpoint, settings.weights_dir)
    set_threads(1 if settings.count <= ONE_THREAD_BATCH else 0)
    metadata = read_metadata(path)  # an unknown --style or --time-signature stops before Keras loads
    style = resolve_style(settings.style, metadata.styles, metadata.style_pieces) if settings.style else 0
    seed = settings.seed if settings.seed is not None else random.randrange(2**31)
    meters = piece_meters(metadata, settings.count, seed, style, settings.time_signature)
    model, metadata, vocabularies = load_checkpoint(path, metadata)
    if program is None and INSTRUMENT not in vocabularies:  # one instrument: the training pieces' most common
        program = gm_program(metadata.plays)
    primer = read_primer(settings.primer, metadata, vocabularies) if settings.primer else None
    if primer is not None and meters and not settings.time_signature:  # a primer is continued in its own meter
        meters = [primer.meter] * settings.count
    sampled, bars = sample(model, metadata, vocabularies, settings, seed, style, primer, meters)
    written = write_pieces(settings, path, sampled, vocabularies, metadata, program, primer, meters, bars)
    print(f"checkpoint {path}, seed {seed}", file=sys.stderr)
    if path.resolve().parent == BASE_RUN:  # named, found as the default, or given as a path
        print("the shipped base model; fine-tune it: python train.py --data my_midis --init-from base", file=sys.stderr)
    if soundfont is not None:
        write_audio(written, soundfont)
    return written


def sample(
    model, metadata: Metadata, vocabularies: dict, settings: GenerateSettings, seed: int, style: int, primer, meters
):
    """The `settings.count` pieces sampled as `settings` says (indices) and their `Bars` (None without meter)."""
    from .conditions import choose_registers
    from .sampling import Sampler

    primer_rows = primer.rows if primer else None
    sampler = Sampler(model, same_onset_index(vocabularies, metadata.representation))
    known = metadata.registers
    registers = choose_registers(known, settings.count, seed, primer_rows, metadata.register_styles, style)
    bars = None
    if meters:
        starts = primer.starts if primer else None
        bars = make_bars(metadata.meters, meters, vocabularies["offset"].tokens, starts)
    sampling = settings.sampling_settings(metadata)
    long = settings.length * settings.count >= 5000 and sys.stderr.isatty()  # a bar where the wait is noticeable
    sampled = sampler.generate(
        settings.length, settings.count, sampling, seed, primer_rows, registers, style, progress=long, bars=bars
    )
    return sampled, bars


def write_pieces(settings, path, sampled, vocabularies, metadata, program, primer, meters, bars) -> list[Path]:
    """Write the `sampled` pieces (decoded, moved back into the primer's key and by `--transpose`,
    after the primer with `--keep-primer`, a bar line at their start) as `settings` says; return the paths."""
    bpm = settings.bpm or metadata.median_bpm or 120.0
    shift = primer.shift if primer else 0
    lead = bar_lead(bars, primer, settings.keep_primer)
    run, stamp = path.parent.name, f"{datetime.now():%Y%m%d-%H%M%S}"
    written = []
    for n in range(settings.count):
        events = decode_events(sampled[n], vocabularies)
        if settings.transpose - shift:  # back into the primer's key, and where --transpose asks
            events = transpose_folded(events, settings.transpose - shift)
        events = (primer.events if primer and settings.keep_primer else []) + events
        if lead:
            events[0] = events[0]._replace(offset=events[0].offset + lead)
        out = Path(settings.out) if settings.out else Path(settings.output_dir) / f"{run}-{stamp}-{n + 1}.mid"
        meter = (meters[n].numerator, meters[n].denominator) if meters else None
        write_music(events, out, program, bpm, settings.musicxml, settings.png, meter)
        print(describe(out, events, bpm))
        written.append(out)
    return written
