"""Music metrics against hand-computed values, loop detection, and the evaluate report's JSON."""

import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, ev, split_chords

from lstm_music.data.meter import Meter
from lstm_music.evaluate.baseline import NGram
from lstm_music.evaluate.metrics import (
    PIECE_METRICS,
    histogram,
    js_distance,
    longest_copy,
    loop_share,
    percentile_range,
    phrase_returns,
    piece_metrics,
)
from lstm_music.evaluate.music_report import copy_reference, music_report
from lstm_music.evaluate.run import main as evaluate_main

E0, E1, E2 = ev("C4", "0", "1"), ev("E4.G4", "1", "1"), ev("C4", "1", "1")
E3, E4, E5 = ev("C4", "1", "0.5"), ev("C4", "0.5", "0.5"), ev("G3", "0.5", "2")
PIECE = [E0, E1, E2, E3, E4, E5]
PITCH_CLASSES = np.array([4, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0])  # of PIECE: C four times, E once, G twice
KK = [  # Krumhansl-Kessler major and minor profiles, tonic first
    np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
    np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
]


def test_piece_metrics_equal_hand_computed_values() -> None:
    values = piece_metrics(PIECE, training=[[E2, E3, E4, E0], [E0, E1]], meters=[Meter(Fraction(0), 4, 4)])
    h = (1 / 6) * math.log2(6) + (1 / 2) * 1 + (1 / 3) * math.log2(3)  # counts 1, 3, 2 of six
    assert values == pytest.approx(
        {
            "distinct_pitches": 4,  # G3 C4 E4 G4
            "pitch_range": 12,  # G3 (55) to G4 (67)
            "longest_run": 3,  # C4 C4 C4
            "loop_share": 0.0,  # six events: no 8-event phrase at all
            "note_density": 7 / 6,  # seven notes sounding over six quarter notes
            "chord_share": 1 / 6,
            "notes_per_onset": 7 / 6,  # seven notes at six onsets
            # onsets at quarter notes 0, 1, 2, 3, 3.5 and 4 in 4/4: all but 3.5 on a beat, 0 and 4 bar lines
            "on_beat": 5 / 6,
            "on_downbeat": 2 / 6,
            "beat_entropy": -(5 / 6) * math.log2(5 / 6) - (1 / 6) * math.log2(1 / 6),
            "phrase_returns": 0.0,  # five quarter notes long: nothing lies 4 bars before
            "offset_entropy": h,  # offsets 0, 1, 1, 1, 0.5, 0.5
            "duration_entropy": h,  # durations 1, 1, 1, 0.5, 0.5, 2
            "longest_copy": 3,  # E2 E3 E4 occurs in the first training piece
            # pitch classes C, E, G sound 4, 1 and 2 times of seven
            "pitch_class_entropy": -sum(k / 7 * math.log2(k / 7) for k in (4, 1, 2)),
            "key_clarity": max(np.corrcoef(PITCH_CLASSES, np.roll(k, t))[0, 1] for k in KK for t in range(12)),
        }
    )
    assert set(values) == set(PIECE_METRICS)
    # in 6/8 the beat is a dotted quarter: onsets 0 and 3 start bars, the others fall 1/2 or 1 into a beat
    compound = piece_metrics(PIECE, meters=[Meter(Fraction(0), 6, 8)])
    assert (compound["on_beat"], compound["on_downbeat"]) == (2 / 6, 2 / 6)
    assert compound["beat_entropy"] == pytest.approx(math.log2(3))


def test_phrase_returns_finds_a_tune_that_comes_back_in_its_own_meter(tmp_path: Path) -> None:
    from lstm_music.data.midi_io import read_piece, write_midi
    from lstm_music.data.tokens import pitch_name

    phrase = np.random.default_rng(0).permutation(12) + 60  # four bars of 3/4, one note a beat, all different
    pitches = [*phrase, *phrase]  # played twice: the second time, each note follows as 4 bars before

    def returns(meter: tuple[int, int]) -> float:
        events = [ev(pitch_name(int(p)), "0" if i == 0 else "1", "1") for i, p in enumerate(pitches)]
        piece = read_piece(write_midi(events, tmp_path / f"{meter[0]}.mid", meter=meter))
        assert [m.numerator for m in piece.meters] == [meter[0]]
        return phrase_returns(list(piece.events), piece.meters)

    assert returns((3, 4)) == pytest.approx(11 / 23)  # 12 notes back; the second phrase's last note has no next
    assert returns((4, 4)) == 0.0  # read in 4/4, 4 bars are 16 notes: the phrase never meets itself
    assert phrase_returns(PIECE, [Meter(Fraction(0), 4, 4)]) == 0.0


def test_key_of_real_chorales_and_the_shift_to_a_common_key() -> None:
    from conftest import shipped

    from lstm_music.data.keys import estimate_key, key_clarity
    from lstm_music.data.midi_io import read_piece
    from lstm_music.data.notes import Notes
    from lstm_music.data.preparation import to_common_key

    # BWV 1.6 is in F major, BWV 101.7 in D minor (their first chords say so)
    for name, tonic, mode in (("bach_bwv1.6.mid", 5, "major"), ("bach_bwv101.7.mid", 2, "minor")):
        piece = read_piece(shipped(name))
        pitches = [p for e in piece.events for p in e.pitches]
        assert estimate_key(pitches)[:2] == (tonic, mode) and key_clarity(pitches) > 0.8
        notes = Notes.from_events(piece.events)
        moved, shift = to_common_key(notes)
        assert shift == -5  # F major -> C major and D minor -> A minor: down a fourth
        assert estimate_key(moved.pitch)[:2] == ({"major": 0, "minor": 9}[mode], mode)
        assert (moved.onset == notes.onset).all() and (moved.pitch == notes.pitch - 5).all()
    assert key_clarity(range(48, 60)) == 0.0  # all twelve pitch classes evenly: no key


def test_loops_copies_and_histograms_by_hand() -> None:
    a, b, c, d = (ev(n, "1", "1") for n in ("A4", "B4", "C5", "D5"))
    assert loop_share([a, b, a, b, a, b], phrase=2) == 1.0
    assert loop_share([a, b, c, a, b, d], phrase=2) == pytest.approx(2 / 5)  # AB twice among AB BC CA AB BD
    assert longest_copy([E0, E1, E2], [[E0], [E1, E2]]) == 2  # no match runs across two training pieces
    assert histogram([PIECE], "pitch_class") == {0: 4, 4: 1, 7: 2}
    assert js_distance({"x": 2}, {"x": 5}) == 0.0
    assert js_distance({"x": 1}, {"y": 1}) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2): JS divergence = (log2(4/3) + (log2(2/3) + 1) / 2) / 2
    divergence = (math.log2(4 / 3) + (math.log2(2 / 3) + 1) / 2) / 2
    assert js_distance({"x": 4}, {"x": 1, "y": 1}) == pytest.approx(math.sqrt(divergence))


def test_copy_reference_leaves_each_training_piece_out_of_its_own_search() -> None:
    a, b, c, d, e = (ev(n, "1", "1") for n in ("A4", "B4", "C5", "D5", "E5"))
    training = [[a, b, c, d], [a, b, c, e], [e, d, c], [a]]
    held_out = [[d, c, b, a], [b, c, d, e, a]]
    # held out, first 3 events: D C B shares only "D C" with [E D C]; B C D has all three in the first.
    # Left out, the three training pieces of at least 3 events: A B C occurs in the other; of E D C
    # only single events occur elsewhere; [A] is too short to count.
    assert copy_reference(held_out, training, 3) == [2.0, 3.0, 3.0, 3.0, 1.0]


def test_ngram_witten_bell_by_hand() -> None:
    model = NGram(vocab_size=4, order=2).fit([np.array([1, 2, 3, 2, 3])])
    # unigram: counts 2:2, 3:2 (types 2, total 4): p(w) = (c(w) + 2 / 4) / 6
    unigram = np.array([0.5, 0.5, 2.5, 2.5]) / 6
    np.testing.assert_allclose(model.distribution([]), unigram)
    # after 2: always 3 (1 type, 2 counts): p = (c + 1 * unigram) / 3
    np.testing.assert_allclose(model.distribution([2]), (np.array([0, 0, 0, 2]) + unigram) / 3)
    np.testing.assert_allclose(model.distribution([0]), unigram)  # unseen context backs off


def test_one_note_loop_is_flagged_and_outside_the_real_range() -> None:
    notes = ["C4", "E4", "G4", "B4", "D5", "F4", "A4", "C5", "E5", "G3"]
    real = [[ev(notes[(i * k) % 10], "0.5", ["0.5", "1"][i % 2]) for i in range(60)] for k in (1, 3, 7, 9)]
    loop = [ev("C4", "0.5", "0.5")] * 60
    report = music_report([loop, real[0]], real, real, real)
    assert report["loops"] == [0]
    assert report["per_piece"]["longest_run"]["generated"][0] == 60
    assert report["per_piece"]["longest_run"]["generated_outside"] >= 1
    assert report["per_piece"]["distinct_pitches"]["generated"][0] == 1
    # a run above the real 90th percentile but as long as a real piece's is outside, not a loop
    real[3] = real[3][:10] + [real[3][10]] * 3 + real[3][13:]
    report = music_report([real[3]], real, real, real)
    assert report["per_piece"]["longest_run"]["generated_outside"] == 1 and report["loops"] == []


def test_a_training_piece_under_another_name_is_not_held_out(tiny_run: Path, tiny_data: Path, tmp_path: Path, capsys):
    from lstm_music.model.checkpoint import read_metadata

    training = read_metadata(tiny_run / "best.weights.h5").training
    (held,) = training["validation_pieces"]
    data = tmp_path / "mixed"  # the held-out chorale, and a training chorale renamed into a sub-folder
    (data / "copies").mkdir(parents=True)
    (data / held).write_bytes((tiny_data / held).read_bytes())
    (data / "copies" / "renamed.mid").write_bytes((tiny_data / training["train_pieces"][0]).read_bytes())
    out = tmp_path / "report.json"
    flags = ["--checkpoint", str(tiny_run), "--data", str(data), "--cache-dir", str(tmp_path / "cache")]
    assert evaluate_main([*flags, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["held_out_pieces"] == 1
    assert (
        f"{data} holds 1 of the checkpoint's training pieces under other paths (such as copies/renamed.mid)"
        in capsys.readouterr().out
    )
    (data / held).unlink()  # nothing left to hold out: one line, exit 2
    assert evaluate_main(flags) == 2
    assert "is a copy of one of the checkpoint's training pieces: nothing held out" in capsys.readouterr().err


def test_json_report_holds_every_number_of_the_table(tiny_run: Path, tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    flags = ["--checkpoint", str(tiny_run), "--data", str(tiny_data), "--cache-dir", str(tmp_path / "cache")]
    assert evaluate_main([*flags, "--generate", "3", "--length", "30", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["held_out_pieces"] == 1
    for source in ("model", "ngram"):
        for head in ("note", "offset", "duration"):
            numbers = report["held_out"][source][head]
            assert 0 <= numbers["accuracy"] <= 1 and numbers["cross_entropy"] > 0
            assert f"{numbers['cross_entropy']:.3f}" in printed
    for head in ("note", "offset", "duration"):  # the network with the checkpoint's repeat memory
        assert f"{report['held_out']['model_with_repeats'][head]['cross_entropy']:.3f}" in printed
    music = report["music"]
    for name in PIECE_METRICS:
        row = music["per_piece"][name]
        assert len(row["generated"]) == 3
        assert len(row["real"]) == row["real_pieces"]  # the real values behind the range, for music_seeds.py
        assert percentile_range(row["real"]) == (row["real_p10"], row["real_median"], row["real_p90"])
        line = next(line for line in printed.splitlines() if line.startswith(name))
        for key in ("real_p10", "real_median", "real_p90", "generated_median"):
            assert f"{row[key]:.2f}" in line
    for kind in ("pitch_class", "duration", "offset"):
        assert f"{music['across'][kind]['generated_vs_real']:.3f}" in printed
    per_note = report["held_out"]["nats_per_note"]
    assert set(per_note) == {"model", "ngram", "model_with_repeats"}
    assert f"nats per note: network {per_note['model']:.3f}, n-gram {per_note['ngram']:.3f}" in printed
    events, notes = report["held_out_events"], report["held_out_notes"]
    assert events == notes  # one event per note
    whole = sum(report["held_out"]["model"][h]["cross_entropy"] for h in ("note", "offset", "duration"))
    assert per_note["model"] == pytest.approx(whole)
    known = report["held_out"]["nats_per_known_chord_note"]
    assert known > 0 and f"whole-chord vocabulary knows: {known:.3f}" in printed
    assert report["unknown_share"] == 0  # every pitch is in a note-level vocabulary
    assert f"{report['unknown_rhythm_share']:.2%} by offset or duration" in printed


def test_known_chord_nats_sum_the_notes_of_each_chord_the_training_split_knows() -> None:
    from lstm_music.data.events import Piece
    from lstm_music.evaluate.held_out import known_chord_nats

    chord, other = ev("C4.E4.G4", "1", "1"), ev("D4.F4", "1", "1")
    training = [[chord, chord, other]]  # with min_count 2 the C major chord is known, D4.F4 is not
    notes = Piece("", split_chords([chord, other, chord]))  # C E G | D F | C E G, one event per note
    probabilities = np.full((8, 3), 0.5)
    probabilities[:, 0] = [0.5, 0.25, 0.25, 0.1, 0.1, 0.5, 0.5, 0.5]
    per_note = -np.log(probabilities).sum(axis=1)
    expected = (per_note[[0, 1, 2, 5, 6, 7]].sum()) / 6  # the six notes of the two C major chords
    assert known_chord_nats([notes], [probabilities], training, 2) == pytest.approx(expected)


def test_pieces_are_compared_at_equal_length() -> None:
    from lstm_music.evaluate.music_report import comparison_length

    assert comparison_length(500, [100] * 20 + [600] * 12) == 500  # twelve real pieces reach 500 events
    assert comparison_length(500, [100] * 20 + [150] * 7 + [600] * 3) == 150  # the 10th longest sets the length
    assert comparison_length(500, [80, 90]) == 80  # with fewer pieces than 10, the shortest


def test_real_music_passes_the_median_test_by_chance_only_as_often_as_its_spread_allows() -> None:
    spec = importlib.util.spec_from_file_location("music_seeds", ROOT / "benchmarks" / "music_seeds.py")
    music_seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(music_seeds)
    rng = np.random.default_rng(3)
    names = ["loop_share", *(f"m{i}" for i in range(9))]
    spread = {name: {"real": rng.normal(size=16).tolist()} for name in names}
    same = {name: {"real": [2.0] * 16} for name in names}
    passes = music_seeds.real_music_passes(spread, samples=5, draws=400)
    assert music_seeds.real_music_passes(same, samples=5, draws=50) == dict.fromkeys(passes, 1.0)
    # 50 medians of 10 pieces against ranges from 16 pieces: often one falls outside by chance
    assert 0.05 < passes["every sample"] < 0.8
    assert passes["every sample"] < passes["every sample, this real range"] <= 1.0
    assert passes["all pieces together"] > 0.8
    # one of 50 pieces above the largest of 16 real values ("a loop") is likely, not rare
    assert 0.05 < passes["no loops"] < 0.9
    assert passes["every sample, no loops"] <= min(passes["every sample"], passes["no loops"])
