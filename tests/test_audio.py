"""Audio: WAV files rendered from MIDI with the General MIDI SoundFont, and their failures."""

import wave
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import ev, write_tracks

from generate_music import main
from lstm_music.data.events import Event
from lstm_music.data.midi_io import write_midi
from lstm_music.render.audio import AudioError, load_soundfont, midi_to_wav, render

SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


@pytest.fixture(scope="module")
def soundfont() -> bytes:
    return load_soundfont()


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())


def scale_events(instrument: str = "0") -> list[Event]:
    """A C major scale in quarter notes, the first note at offset 0."""
    names = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]
    return [ev(name, "0" if i == 0 else "1", "1", instrument) for i, name in enumerate(names)]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_a_c_major_scale_lasts_as_long_as_its_midi_and_sounds(soundfont: bytes, tmp_path: Path) -> None:
    midi = write_midi(scale_events(), tmp_path / "scale.mid", bpm=120)
    wav = midi_to_wav(midi, tmp_path / "scale.wav", soundfont)
    params, samples = read_wav(wav)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 44100)
    length = mido.MidiFile(str(midi)).length
    assert length == pytest.approx(4.0, abs=0.01)  # eight quarter notes at 120 bpm
    assert length <= params.nframes / 44100 <= length + 2  # the release of the last note, within 2 s
    assert np.abs(samples).max() < 32767  # peak-normalised below full scale: nothing clips
    assert rms(samples) > 1000  # far louder than silence (16-bit full scale is 32767)
    second = int(44100 * 0.5)  # every half second holds one note, and each is heard
    assert all(rms(samples[i * second : (i + 1) * second]) > 300 for i in range(8))
    assert rms(samples[-int(44100 * 0.3) :]) < rms(samples[: 4 * second]) / 10  # it dies away at the end


def test_every_track_sounds_with_its_own_program(soundfont: bytes, tmp_path: Path) -> None:
    notes = [(i, 1, pitch, 0) for i, pitch in enumerate(SCALE)]
    piano = render(write_tracks(tmp_path / "piano.mid", [notes], programs=[(0, 0)]), soundfont)
    violin = render(write_tracks(tmp_path / "violin.mid", [notes], programs=[(0, 40)]), soundfont)
    assert piano.shape == violin.shape
    assert np.corrcoef(piano[:, 0], violin[:, 0])[0, 1] < 0.5  # a different sound, not the same one louder
    both = [notes, [(i, 1, pitch - 12, 1) for i, pitch in enumerate(SCALE)]]  # two tracks, two channels
    duet = render(write_tracks(tmp_path / "duet.mid", both, programs=[(0, 0), (1, 40)]), soundfont)
    swapped = render(write_tracks(tmp_path / "swapped.mid", both, programs=[(0, 40), (1, 0)]), soundfont)
    assert np.corrcoef(duet[:, 0], swapped[:, 0])[0, 1] < 0.5


def test_drums_on_channel_10_sound_as_a_kit(soundfont: bytes, tmp_path: Path) -> None:
    hits = [(i / 2, 0.25, 36 + (i % 2) * 2, 9) for i in range(8)]  # bass drum and snare
    kit = render(write_tracks(tmp_path / "kit.mid", [hits]), soundfont)
    pitched = render(write_tracks(tmp_path / "pitched.mid", [[(s, d, p, 0) for s, d, p, _ in hits]]), soundfont)
    assert np.corrcoef(kit[: len(pitched), 0], pitched[: len(kit), 0])[0, 1] < 0.5


def test_tempo_changes_are_followed(soundfont: bytes, tmp_path: Path) -> None:
    midi = mido.MidiFile(ticks_per_beat=960)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(240))])
    track += [mido.Message("note_on", note=60, velocity=90), mido.Message("note_off", note=60, time=960 * 4)]
    track += [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60))]
    track += [mido.Message("note_on", note=64, velocity=90), mido.Message("note_off", note=64, time=960 * 4)]
    midi.tracks.append(track)
    midi.save(str(tmp_path / "tempi.mid"))
    samples = render(tmp_path / "tempi.mid", soundfont)
    assert len(samples) / 44100 == pytest.approx(1 + 4 + 1, abs=0.01)  # 4 beats at 240, 4 at 60, the release


def test_bad_inputs_give_one_line(soundfont: bytes, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mid"
    write_tracks(empty, [[]])
    with pytest.raises(AudioError, match="no notes to play"):
        render(empty, soundfont)
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd not really")
    with pytest.raises(AudioError, match="cannot read it as MIDI"):
        render(garbage, soundfont)
    with pytest.raises(AudioError, match="file does not exist"):
        load_soundfont(tmp_path / "missing.sf2")
    with pytest.raises(AudioError, match=r"not a SoundFont \(\.sf2 or \.sf3\) that loads"):
        load_soundfont(garbage)


def test_wav_writes_audio_beside_each_piece(tiny_run: Path, tmp_path: Path) -> None:
    assert main(["--checkpoint", str(tiny_run), "--output-dir", str(tmp_path), "--length", "30", "--count", "2",
                 "--seed", "3", "--wav"]) == 0  # fmt: skip
    pieces = sorted(tmp_path.glob("*.mid"))
    assert len(pieces) == 2 and sorted(tmp_path.glob("*.wav")) == [p.with_suffix(".wav") for p in pieces]
    for piece in pieces:
        params, samples = read_wav(piece.with_suffix(".wav"))
        assert mido.MidiFile(str(piece)).length <= params.nframes / 44100 <= mido.MidiFile(str(piece)).length + 2
        assert rms(samples) > 500


def test_a_bad_soundfont_stops_before_sampling(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.mid"
    for font, reason in ((tmp_path / "none.sf2", "does not exist"), (tiny_run / "history.csv", "not a SoundFont")):
        assert main(["--checkpoint", str(tiny_run), "--out", str(out), "--soundfont", str(font)]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"error: --soundfont {font}: {reason}"), line
    assert not out.exists()


def test_the_midi_file_stays_when_only_the_audio_fails(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "kept.mid"
    out.with_suffix(".wav").mkdir()  # a folder where the audio should go
    assert main(["--checkpoint", str(tiny_run), "--out", str(out), "--length", "20", "--wav"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: cannot write {out.with_suffix('.wav')}")
    assert mido.MidiFile(str(out)).length > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.mid", "kept.wav"]  # no temporary file left


def test_onsets_in_the_audio_follow_the_notes(soundfont: bytes, tmp_path: Path) -> None:
    events = [ev("C4", "0", "1/2", "0"), ev("C4", "3", "1/2", "0")]  # a note, 3 beats of silence, a note
    samples = render(write_midi(events, tmp_path / "gap.mid", bpm=60), soundfont)
    loud = [rms(samples[int(44100 * t) : int(44100 * (t + Fraction(1, 4)))]) for t in (0, 2, 3)]
    assert loud[0] > 10 * loud[1] and loud[2] > 10 * loud[1]  # sound at 0 s and 3 s, near silence at 2 s
