"""Meter: time signatures read from MIDI and scores, each event's place in its bar and beat, the
sampler's bar count, time signatures written back, and the real-vs-generated classifier."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import ROOT, TPQ, ev, train_args

from lstm_music.data.events import Event
from lstm_music.data.meter import COMMON, OFF_GRID, Meter, off_the_grid, positions, time_signature
from lstm_music.data.midi_io import read_piece, write_midi
from lstm_music.evaluate.realness import FEATURES, TELLING, segment_features, separability, telling


def with_meters(path: Path, notes: list[tuple[float, float, int]], meters: list[tuple[float, int, int]]) -> Path:
    """A one-track MIDI file of `notes` (start, length, pitch in quarters) and time-signature events
    (start, numerator, denominator)."""
    timed = [(round(t * TPQ), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in meters]
    for start, length, pitch in notes:
        timed.append((round(start * TPQ), 2, mido.Message("note_on", note=pitch, velocity=80)))
        timed.append((round((start + length) * TPQ), 1, mido.Message("note_off", note=pitch)))
    track, now = mido.MidiTrack(), 0
    for tick, _, message in sorted(timed, key=lambda m: (m[0], m[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    song = mido.MidiFile(ticks_per_beat=TPQ)
    song.tracks.append(track)
    song.save(str(path))
    return path


def places(piece) -> list[tuple[int, int]]:
    """(beat, step) of each event's start, worked out by `meter.positions`."""
    from lstm_music.data.notes import event_starts

    ticks, resolution = event_starts(piece.events)
    return [tuple(p[1:]) for p in positions(ticks, resolution, piece.meters).tolist()]


def test_bar_and_beat_positions_by_hand_in_three_four_six_eight_and_a_change(tmp_path: Path) -> None:
    # 3/4: quarters on beats 0, 1, 2, then an eighth after beat 0 of bar 2; steps are 12 per quarter
    waltz = read_piece(with_meters(tmp_path / "waltz.mid", [(0, 1, 60), (1, 1, 62), (2, 1, 64), (3.5, 1, 65)],
                                   [(0, 3, 4)]))  # fmt: skip
    assert waltz.meters == (Meter(Fraction(0), 3, 4),)
    assert places(waltz) == [(0, 0), (1, 0), (2, 0), (0, 6)]
    # 6/8: two dotted-quarter beats; eighths at 0, 0.5, 1 are steps 0, 6, 12 of beat 0, 1.5 is beat 1
    jig = read_piece(with_meters(tmp_path / "jig.mid", [(0, 0.5, 60), (0.5, 0.5, 62), (1, 0.5, 64), (1.5, 1.5, 65),
                                                        (3, 1, 67)], [(0, 6, 8)]))  # fmt: skip
    assert places(jig) == [(0, 0), (0, 6), (0, 12), (1, 0), (0, 0)]
    # 4/4 for one bar, then 3/4 from quarter 4: bar lines at 0, 4, 7, 10
    notes = [(0, 1, 60), (3, 1, 62), (4, 1, 64), (6, 1, 65), (7, 1, 67), (9.5, 1, 69)]
    change = read_piece(with_meters(tmp_path / "change.mid", notes, [(0, 4, 4), (4, 3, 4)]))
    assert places(change) == [(0, 0), (3, 0), (0, 0), (2, 0), (0, 0), (2, 6)]


def test_a_pickup_bar_of_a_score_puts_the_first_bar_line_before_the_start() -> None:
    from music21 import corpus

    tune = Path(corpus.__file__).parent / "ryansMammoth" / "AcaciaReel.abc"
    piece = read_piece(tune)
    assert piece.meters == (Meter(Fraction(-3, 2), 2, 4),)  # three eighths of pickup in 2/4
    first = positions(np.array([0]), 1, piece.meters)[0].tolist()
    assert first == [0, 1, 6]  # the pickup starts half way through the bar's second beat


def test_pieces_without_a_time_signature_are_read_in_four_four_and_said_to_be(tmp_path: Path) -> None:
    plain = read_piece(with_meters(tmp_path / "plain.mid", [(0, 1, 60), (5, 1, 62)], []))
    assert plain.meters == () and places(plain) == [(0, 0), (1, 0)]
    from lstm_music.data.meter import describe_meters

    line = describe_meters([("plain.mid", plain.meters, Fraction(6), False), ("jig.mid", (Meter(0, 6, 8),), 6, True)])
    assert line.startswith("meters: 4/4 1 piece, 6/8 1 piece; 1 without a time signature (read in 4/4): plain.mid")
    assert line.endswith("1 off their beat grid (bar lines elsewhere, or played without a click): jig.mid")


def test_a_piece_played_without_a_click_is_off_its_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    starts = np.cumsum(rng.uniform(0.2, 0.9, 80))  # anywhere, as a player without a click puts them
    played = read_piece(with_meters(tmp_path / "played.mid", [(s, 0.2, 60 + i % 12) for i, s in enumerate(starts)],
                                    [(0, 4, 4)]))  # fmt: skip
    assert played.grid < 0.5 and off_the_grid(np.zeros(80, dtype=int), played.grid)
    clicked = read_piece(with_meters(tmp_path / "clicked.mid", [(i / 2, 0.5, 60) for i in range(80)], [(0, 4, 4)]))
    assert clicked.grid == 1.0 and not off_the_grid(np.zeros(80, dtype=int), clicked.grid)
    assert off_the_grid(np.array([0] * 8 + [OFF_GRID] * 2), 1.0)  # a fifth start between the bar's grid steps


def test_time_signatures_are_checked() -> None:
    assert time_signature("6/8") == (6, 8) and time_signature(" 3 / 4 ") == (3, 4)
    for bad in ("3/5", "0/4", "4", "three/four", "4/4/4"):
        with pytest.raises(ValueError):
            time_signature(bad)
    assert COMMON.bar == 4 and Meter(0, 6, 8).beat == Fraction(3, 2) and Meter(0, 3, 8).beat == Fraction(1, 2)


def test_the_written_midi_and_musicxml_carry_the_time_signature(tmp_path: Path) -> None:
    from lstm_music.data.midi_io import events_to_score

    events = [ev("C4", "0", "1"), ev("E4", "1", "0.5"), ev("G4", "0.5", "1.5")]
    path = write_midi(events, tmp_path / "jig.mid", meter=(6, 8))
    assert read_piece(path).meters == (Meter(Fraction(0), 6, 8),)
    score = events_to_score(events, meter=(6, 8))
    assert [ts.ratioString for ts in score.parts[0].recurse().getElementsByClass("TimeSignature")] == ["6/8"]


def beat_folder(folder: Path, pieces: int = 6) -> Path:
    """Pieces in 3/4 whose notes fall on beats only (quarters and half notes, some chords)."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    for k in range(pieces):
        notes, now = [], 0.0
        while now < 90:
            length = float(rng.choice([1.0, 2.0, 1.0]))
            for pitch in rng.choice([60, 62, 64, 65, 67, 69, 71, 72], size=int(rng.choice([1, 1, 2]))):
                notes.append((now, length, int(pitch) + k % 3))
            now += length
        with_meters(folder / f"waltz{k}.mid", notes, [(0, 3, 4)])
    return folder


def test_a_model_of_pieces_on_the_beat_generates_notes_on_the_beat(tmp_path: Path) -> None:
    from train import main

    data = beat_folder(tmp_path / "waltzes")
    flags = train_args(data, tmp_path / "w", tmp_path / "c", "beats", "--epochs", "8", "--learning-rate", "0.01")
    assert main([*flags, "--sequence-length", "32", "--val-fraction", "0.2"]) == 0
    out = tmp_path / "out.mid"
    command = [sys.executable, "generate_music.py", "--checkpoint", str(tmp_path / "w" / "beats"), "--out", str(out)]
    result = subprocess.run([*command, "--length", "200", "--seed", "2"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    piece = read_piece(out)
    assert piece.meters == (Meter(Fraction(0), 3, 4),)  # drawn from the training pieces, written into the file
    starts = np.unique(np.cumsum([Fraction(e.offset) for e in piece.events]))
    on_beat = np.mean([s.denominator == 1 for s in starts])  # a quarter-note beat: whole quarters
    assert on_beat > 0.9, on_beat


def test_the_sampler_keeps_the_bar_count_the_midi_file_shows(tiny_run: Path, tmp_path: Path, monkeypatch) -> None:
    """The places in their bars that sampling fed the model are those of the events it drew, and the
    MIDI file written from them puts its last note in the bar and beat the sampler counted."""
    import reference_sampler

    from lstm_music.data.encoding import decode_events
    from lstm_music.data.notes import event_starts
    from lstm_music.data.preparation import prepare_piece
    from lstm_music.data.vocab import same_onset_index
    from lstm_music.generate import sampling
    from lstm_music.generate.conditions import make_bars
    from lstm_music.model.checkpoint import load_checkpoint

    model, metadata, vocabularies = load_checkpoint(tiny_run / "best.weights.h5")
    meters = [Meter(Fraction(0), 3, 4), Meter(Fraction(0), 6, 8)]
    bars = make_bars(metadata.meters, meters, vocabularies["offset"].tokens)
    sampler = sampling.Sampler(model, same_onset_index(vocabularies, "note"))
    compiled = sampler.generate(120, 2, seed=3, bars=bars)
    fed = []
    counted = reference_sampler.clock_positions
    monkeypatch.setattr(reference_sampler, "clock_positions", lambda *clock: fed.append(counted(*clock)) or fed[-1])
    oracle = reference_sampler.ReferenceSampler(model, same_onset_index(vocabularies, "note"))
    reference = oracle.generate(120, 2, seed=3, bars=bars)
    assert np.array_equal(compiled, reference) and len(fed) == 120  # <start>, then each drawn row but the last
    for k, (rows, meter) in enumerate(zip(reference, meters, strict=True)):
        events = decode_events(rows, vocabularies)
        ticks, resolution = event_starts(events)
        drawn = positions(ticks, resolution, [meter])[:, 1:]  # beat and step
        assert np.array_equal(np.array([f[k, 1:] for f in fed[1:]]), drawn[:-1])  # the clock is the events' own
        path = write_midi(events, tmp_path / f"{k}.mid", meter=(meter.numerator, meter.denominator))
        back = prepare_piece(read_piece(path), "note", False, True)
        written, scale = event_starts(back.events)
        assert back.meters == (meter,)
        assert Fraction(int(written[-1]), scale) == Fraction(int(ticks[-1]), resolution)  # the last note's time
        assert positions(written[-1:], scale, back.meters)[:, 1:].tolist() == drawn[-1:].tolist()  # its beat


def test_the_classifier_tells_plainly_different_sets_apart_and_not_two_halves_of_one(tmp_path: Path) -> None:
    def piece(rng, steady: bool) -> list[list[np.ndarray]]:
        events, meter = [], (Meter(Fraction(0), 4, 4),)
        for _ in range(300):
            offset = "1" if steady else str(rng.choice(["0.25", "1/3", "0.75", "1.5"]))
            pitch = 60 + int(rng.integers(0, 3 if steady else 24))
            events.append(ev(f"{'CDEFGAB'[pitch % 7]}4", offset, "0.5"))
        return segment_features(events, meter)

    rng = np.random.default_rng(0)
    steady = [piece(rng, True) for _ in range(12)]
    wild = [piece(rng, False) for _ in range(12)]
    assert separability(steady, wild)["balanced_accuracy"] > 0.9
    halves = separability(steady[:6], steady[6:])["balanced_accuracy"]
    assert halves < 0.7, halves


def test_the_classifier_says_what_tells_real_pieces_from_the_same_pieces_off_the_beat() -> None:
    pieces = [read_piece(path) for path in sorted((ROOT / "midi_songs").rglob("*.mid"))[::9][:10]]
    assert len(pieces) == 10

    def segments(events: list[Event], meters) -> list[np.ndarray]:
        found = segment_features(events, meters)
        assert all(len(f) == len(FEATURES) for f in found)  # every value has its name
        return found

    def late(events: list[Event]) -> list[Event]:  # every onset a 16th later: the first event's offset grows
        return [events[0]._replace(offset=events[0].offset + Fraction(1, 4)), *events[1:]]

    real = [segments(list(p.events), p.meters) for p in pieces]
    moved = [segments(late(list(p.events)), p.meters) for p in pieces]
    assert separability(real, moved)["balanced_accuracy"] > 0.9
    cues = telling(real, moved)
    assert len(cues) == TELLING
    first = cues[0]
    beat = {"on a beat", "at 0 of a beat", "at 1/4 of a beat", "on a downbeat", "place-in-beat entropy"}
    assert first["feature"] in beat, cues
    assert first["medians"][0] != first["medians"][1]
    assert not {"on a beat", "at 0 of a beat"} <= {cue["feature"] for cue in cues}  # the same values, named once
    on_beat = FEATURES.index("on a beat")
    assert np.median([f[on_beat] for p in real for f in p]) > np.median([f[on_beat] for p in moved for f in p])
    assert telling(real, []) == []


def test_a_checkpoint_from_before_meter_still_loads_generates_and_evaluates(tiny_data: Path, tmp_path: Path) -> None:
    import json

    from conftest import store_metadata, stored_metadata

    from lstm_music.evaluate.run import main as evaluate_main
    from lstm_music.model.checkpoint import BEST
    from train import main

    assert main(train_args(tiny_data, tmp_path, tmp_path / "cache", "old", "--epochs", "1", "--no-meter")) == 0
    best = tmp_path / "old" / BEST
    metadata = stored_metadata(best)
    del metadata["meters"], metadata["model"]["meters"]  # what a checkpoint made before meter holds
    store_metadata(best, metadata)
    out = tmp_path / "old.mid"
    command = [sys.executable, "generate_music.py", "--checkpoint", str(best), "--out", str(out), "--length", "80"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert read_piece(out).meters == ()  # no time signature: it knows none
    refused = subprocess.run([*command, "--time-signature", "3/4"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "trained without meter" in refused.stderr
    report = tmp_path / "old.json"
    flags = ["--checkpoint", str(best), "--data", str(tiny_data), "--cache-dir", str(tmp_path / "cache")]
    assert evaluate_main([*flags, "--generate", "2", "--length", "60", "--json", str(report)]) == 0
    music = json.loads(report.read_text())["music"]
    assert "on_beat" in music["per_piece"] and "realness" in music  # generated pieces read in 4/4
