"""Audio: MIDI files rendered to WAV with a General MIDI SoundFont, offline.

The synthesiser is TinySoundFont (the `tinysoundfont` wheel, MIT licence; installed with
`--no-deps`, because the `pyaudio` it lists is only for live playback, which this never uses). The
default SoundFont is `TimGM6mb.sf2` (Tim Brechbill, GPL-2.0), the General MIDI set that ships
inside the `pretty_midi` wheel; it is read where pip put it, never downloaded. Every MIDI channel
plays its own program change, and channel 10 plays the drum kit.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..files import reason, write_atomically

SAMPLE_RATE = 44100  # Hz; the WAV is 16-bit stereo
RELEASE_SECONDS = 1.0  # kept after the MIDI file's last event, so the last notes die away instead of stopping
PEAK = 10 ** (-1 / 20)  # every piece is scaled so its loudest sample sits at -1 dBFS: never clipped, never faint
DRUM_CHANNEL = 9  # General MIDI channel 10, counted from 0


class AudioError(Exception):
    """A SoundFont or a MIDI file that cannot be rendered, with a one-line reason."""


def default_soundfont() -> Path:
    """The General MIDI SoundFont inside the installed `pretty_midi` package."""
    try:
        import pretty_midi
    except ImportError as error:
        raise AudioError("the default SoundFont comes with pretty_midi: pip install pretty_midi") from error
    return Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")


def load_soundfont(path: Path | str | None = None) -> bytes:
    """The bytes of the SoundFont at `path` (default: `default_soundfont()`), checked to load, so a
    bad `--soundfont` stops a run before anything is generated."""
    try:
        import tinysoundfont
    except ImportError as error:
        raise AudioError("--wav needs tinysoundfont: pip install --no-deps tinysoundfont") from error
    path = Path(path) if path else default_soundfont()
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise AudioError(f"--soundfont {path}: file does not exist") from error
    except OSError as error:
        raise AudioError(f"--soundfont {path}: cannot read it: {reason(error)}") from error
    try:
        tinysoundfont.Synth().sfload(data)
    except RuntimeError as error:
        raise AudioError(f"--soundfont {path}: not a SoundFont (.sf2 or .sf3) that loads") from error
    return data


def _played(midi: Path) -> tuple[list, float]:
    """The sounding messages of the MIDI file `midi` as TinySoundFont events at their times in
    seconds, and the file's length; mido reads the times, following every tempo change."""
    import mido
    from tinysoundfont.midi import ControlChange, Event, NoteOff, NoteOn, PitchBend, ProgramChange

    try:
        messages = mido.MidiFile(str(midi))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise AudioError(f"{midi}: cannot read it as MIDI: {error}") from error
    now, events = 0.0, []
    for message in messages:
        now += message.time
        if message.type == "note_on" and message.velocity:
            action = NoteOn(message.note, message.velocity)
        elif message.type in ("note_on", "note_off"):
            action = NoteOff(message.note)
        elif message.type == "program_change":
            action = ProgramChange(message.program)
        elif message.type == "control_change":
            action = ControlChange(message.control, message.value)
        elif message.type == "pitchwheel":
            action = PitchBend(message.pitch + 8192)
        else:
            continue
        events.append(Event(action, now, message.channel, persistent=False))  # played once: never rescanned
    return events, now


def render(midi: Path, soundfont: bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The MIDI file `midi` played through `soundfont`: float32 samples of shape (frames, 2), as
    long as the file plus `RELEASE_SECONDS`, peak-normalised to `PEAK`."""
    import tinysoundfont
    from tinysoundfont.midi import NoteOn

    events, end = _played(midi)
    if not any(isinstance(event.action, NoteOn) for event in events):
        raise AudioError(f"{midi}: no notes to play")
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    font = synth.sfload(soundfont)
    synth.program_select(DRUM_CHANNEL, font, 0, 0, is_drums=True)  # a kit even without a program change
    tinysoundfont.Sequencer(synth).add(events)
    frames = int(round((end + RELEASE_SECONDS) * sample_rate))
    return peak_normalised(np.frombuffer(synth.generate(frames), dtype=np.float32).reshape(-1, 2))


def peak_normalised(samples: np.ndarray) -> np.ndarray:
    """`samples` scaled so that the loudest one sits at `PEAK` (silence stays silence)."""
    loudest = float(np.max(np.abs(samples), initial=0.0))
    return samples * (PEAK / loudest) if loudest > 0 else samples.copy()


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float samples in [-1, 1] of shape (frames, channels) as the bytes of a 16-bit WAV file."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(samples: np.ndarray, path: Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write float samples in [-1, 1] of shape (frames, channels) as a 16-bit WAV file, atomically."""
    data = wav_bytes(samples, sample_rate)
    return write_atomically(Path(path), lambda temporary: temporary.write_bytes(data))


def midi_to_wav(midi: Path, path: Path, soundfont: bytes) -> Path:
    """Render the MIDI file `midi` to the WAV file `path` with `soundfont` (`load_soundfont`)."""
    return write_wav(render(midi, soundfont), path)
