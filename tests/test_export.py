"""The export of music21's corpus as MIDI (`scripts/export_midi_songs.py`): bar lines where the score
has them, so that a model that reads meter learns the score's beats."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

from conftest import ROOT

from lstm_music.data.meter import Meter, positions
from lstm_music.data.midi_io import read_piece
from lstm_music.data.notes import event_starts

sys.path.insert(0, str(ROOT / "scripts"))
from export_midi_songs import CORPUS_ROOT, export_one, write_score  # noqa: E402


def first_places(path: Path, count: int = 3) -> list[list[int]]:
    piece = read_piece(path)
    ticks, resolution = event_starts(piece.events)
    return positions(ticks[:count], resolution, piece.meters)[:, 1:].tolist()


def test_a_pickup_ends_a_first_bar_of_rest(tmp_path: Path) -> None:
    out = export_one(CORPUS_ROOT / "bach" / "bwv1.6.mxl", tmp_path / "chorale.mid")  # a one-beat pickup in 4/4
    # 4/4 from the first bar line; the last bar, three beats that complete the pickup's, says so
    assert read_piece(out).meters == (Meter(Fraction(0), 4, 4), Meter(Fraction(80), 3, 4))
    assert first_places(out, 1) == [[3, 0]]  # the pickup on the fourth beat, the first full bar on a bar line
    assert Fraction(read_piece(out).events[0].offset) == 3


def test_a_bar_of_another_length_gets_its_own_time_signature_and_the_next_the_old_one(tmp_path: Path) -> None:
    from music21 import meter, note, stream

    part = stream.Part()
    for number, lengths in enumerate([[1, 1], [1, 1, 1], [1, 1], [2]], 1):  # the second bar holds three beats
        bar = stream.Measure(number=number)
        if number == 1:
            bar.insert(0, meter.TimeSignature("2/4"))
        for length in lengths:
            bar.append(note.Note("C4", quarterLength=length))
        part.append(bar)
    score = stream.Score([part])
    out = write_score(score, tmp_path / "odd.mid", tmp_path / "odd.mid")
    piece = read_piece(out)
    assert piece.meters == (Meter(Fraction(0), 2, 4), Meter(Fraction(2), 3, 4), Meter(Fraction(5), 2, 4))
    ticks, resolution = event_starts(piece.events)
    places = positions(ticks, resolution, piece.meters)
    downbeats = [int(t) // resolution for t, p in zip(ticks, places, strict=True) if p[1] == 0]
    assert downbeats == [0, 2, 5, 7]  # each bar's first note, the long bar's too
