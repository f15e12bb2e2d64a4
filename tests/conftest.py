"""Shared fixtures: small MIDI files built with mido, so tests know exactly what they contain."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import mido
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TPQ = 480


def ev(note: str, offset: str, duration: str, instrument: str = "0"):
    """An event written as its tokens (`tokens.token_event`): ``ev("C4.E4", "1/2", "1")``."""
    from lstm_music.data.tokens import token_event

    return token_event((note, offset, duration, instrument))


def tokens_of(events) -> list[tuple[str, ...]]:
    """The events as their tokens (note, offset, duration, instrument), to compare with written ones."""
    from lstm_music.data.tokens import event_tokens

    return [event_tokens(event) for event in events]


def note_of(event) -> str:
    """An event's note token: ``"C4"``, ``"E4.G4"``."""
    from lstm_music.data.tokens import note_token

    return note_token(event.pitches)


def split_chords(events):
    """`events` with every chord taken apart, written event by event: one event per note, lowest pitch
    first at each onset; a chord's notes keep its duration, the first its offset and the others 0 after
    it. The reference for note events made from numbers (`notes.Notes.note_events`)."""
    from fractions import Fraction

    from lstm_music.data.events import Event, event_onsets

    notes = sorted((start, pitch, instrument, length) for start, length, pitches, instrument in event_onsets(events)
                   for pitch in pitches)  # fmt: skip
    out, previous = [], Fraction(0)
    for start, pitch, instrument, length in notes:
        out.append(Event((pitch,), start - previous, length, instrument))
        previous = start
    return out


def stored_metadata(checkpoint: Path) -> dict:
    """The JSON document of a checkpoint's metadata as stored (to change it as an older or damaged file would be)."""
    import h5py

    with h5py.File(checkpoint, "r") as handle:
        return json.loads(bytes(handle["lstm_music"]["metadata"][()]))


def store_metadata(checkpoint: Path, document: dict | bytes) -> None:
    """Put `document` (JSON, or bytes as they are) in place of a checkpoint's metadata."""
    import h5py
    import numpy as np

    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    with h5py.File(checkpoint, "a") as handle:
        del handle["lstm_music"]["metadata"]
        handle["lstm_music"].create_dataset("metadata", data=np.frombuffer(data, dtype=np.uint8))


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


UNPRIVILEGED = 65534  # nobody


def others_may_run(path: Path) -> bool:
    """Whether a user who is neither the owner nor in the group may run `path` (every folder above it searchable)."""
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def unprivileged(command: list[str]) -> list[str]:
    """`command` run as a user without privileges: as it is for a user who is not root, else as
    nobody through `setpriv` (root reads and writes whatever the permissions say, so tests of
    permissions would prove nothing), with a home it may write in. This interpreter may lie where
    nobody cannot reach it (pyenv's, under /root): then the system's Python of the same version
    runs it, with this environment's packages."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to test permissions as root")
    environment = [f"HOME={tempfile.gettempdir()}"]
    if command[0] == sys.executable and not others_may_run(Path(sys.executable).resolve()):
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        found = [Path(d) / version for d in ("/usr/bin", "/usr/local/bin") if (Path(d) / version).is_file()]
        usable = [p for p in found if others_may_run(p.resolve())]
        if not usable:
            pytest.fail(f"no {version} that nobody may run, to test permissions as root")
        packages = [p for p in sys.path if p.endswith("site-packages")]
        environment.append(f"PYTHONPATH={os.pathsep.join([str(ROOT), *packages])}")
        command = [str(usable[0]), *command[1:]]
    ids = [f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups"]
    return [setpriv, *ids, "env", *environment, *command]


@pytest.fixture
def shared_tmp():
    """A temporary folder that an unprivileged user may use too (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="lstm-music-test-"))
    folder.chmod(0o777)
    yield folder
    for path in [folder, *folder.rglob("*")]:  # give back what a test locked, so that it can be removed
        if not path.is_symlink():
            path.chmod(0o777)
    shutil.rmtree(folder, ignore_errors=True)
