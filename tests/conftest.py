"""Shared fixtures: small MIDI files built with mido, so tests know exactly what they contain."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mido
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TPQ = 480


def shipped(name: str) -> Path:
    """The shipped file `name` of midi_songs/, whichever composer's folder holds it."""
    return next((ROOT / "midi_songs").rglob(name))


def write_tracks(
    path: Path,
    tracks: list[list[tuple[float, float, int, int]]],
    bpm: float = 100.0,
    programs: list[tuple[int, int] | None] | None = None,
) -> Path:
    """Write a type-1 MIDI file; each track is a list of (start, length, pitch, channel) in quarters,
    and begins with the program change (channel, program) of `programs` where one is given."""
    midi = mido.MidiFile(ticks_per_beat=TPQ)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)])
    midi.tracks.append(conductor)
    for k, notes in enumerate(tracks):
        messages = []
        if programs and programs[k]:
            channel, program = programs[k]
            messages.append((0, -1, mido.Message("program_change", program=program, channel=channel)))
        for start, length, pitch, channel in notes:
            messages.append((round(start * TPQ), 1, mido.Message("note_on", note=pitch, velocity=80, channel=channel)))
            messages.append((round((start + length) * TPQ), 0, mido.Message("note_off", note=pitch, channel=channel)))
        track = mido.MidiTrack()
        now = 0
        for tick, _order, message in sorted(messages, key=lambda m: (m[0], m[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


@pytest.fixture
def known_midi(tmp_path: Path) -> Path:
    """Two piano tracks and a drum track with a known note, chord, rest and triplets."""
    right = [
        (0, 1, 60, 0),  # C4 quarter
        (1, 2, 64, 0),  # E4 + G4 half-note chord
        (1, 2, 67, 0),
        # beat 3 is a rest
        (4, 0.5, 62, 0),  # D4 eighth
        (5, 1 / 3, 65, 0),  # F4 G4 A4 triplet eighths
        (5 + 1 / 3, 1 / 3, 67, 0),
        (5 + 2 / 3, 1 / 3, 69, 0),
    ]
    left = [(0, 4, 48, 1), (4, 2, 43, 1)]  # C3 whole note, G2 half note
    drums = [(beat, 0.25, 36, 9) for beat in range(6)]
    return write_tracks(tmp_path / "known.mid", [right, left, drums])


KNOWN_EVENTS = [  # the pitched notes, all piano (no program change); the drums come apart
    ("C3", "0", "4", "0"),
    ("C4", "0", "1", "0"),
    ("E4.G4", "1", "2", "0"),
    ("G2", "3", "2", "0"),
    ("D4", "0", "0.5", "0"),
    ("F4", "1", "1/3", "0"),
    ("G4", "1/3", "1/3", "0"),
    ("A4", "1/3", "1/3", "0"),
]


TINY_FLAGS = [
    "--preset", "small", "--embedding", "8", "--branch-units", "16", "--trunk-units", "16", "--dense-units", "16",
    "--dropout", "0", "--sequence-length", "16", "--batch-size", "8", "--val-fraction", "0.2", "--patience", "0",
    "--workers", "1", "--progress", "0", "--min-count", "1",
]  # fmt: skip
CHORALES = ["bach_bwv1.6.mid", "bach_bwv10.7.mid", "bach_bwv101.7.mid", "bach_bwv145.5.mid", "bach_bwv151.5.mid"]


def train_args(data: Path, weights: Path, cache: Path, run: str, *extra: str) -> list[str]:
    """train.py flags for a tiny, fast model on `data`."""
    return [*TINY_FLAGS, "--data", str(data), "--weights-dir", str(weights), "--cache-dir", str(cache),
            "--run-name", run, *extra]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Five short Bach chorales from midi_songs/."""
    folder = tmp_path_factory.mktemp("chorales")
    for name in CHORALES:
        (folder / name).write_bytes(shipped(name).read_bytes())
    return folder


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path, tmp_path_factory) -> Path:
    """The run folder of a two-epoch training of a tiny model on the chorales."""
    from train import main

    weights = tmp_path_factory.mktemp("weights")
    cache = tmp_path_factory.mktemp("cache")
    assert main(train_args(tiny_data, weights, cache, "tiny", "--epochs", "2")) == 0
    return weights / "tiny"
