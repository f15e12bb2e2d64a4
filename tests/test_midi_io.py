"""Reading MIDI into events and writing events back."""

from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import KNOWN_EVENTS, ROOT, ev, note_of, shipped, split_chords, tokens_of, write_tracks

from lstm_music.data.events import join_chords, without_drums
from lstm_music.data.instruments import DRUMS
from lstm_music.data.midi_io import UnreadableFile, read_midi, read_piece, read_score, write_midi
from lstm_music.data.tokens import format_ql, note_token, parse_ql, pitch_name, pitch_number


def test_known_file_parses_to_exact_events(known_midi: Path) -> None:
    piece = read_piece(known_midi)
    assert tokens_of(without_drums(piece.events)) == KNOWN_EVENTS
    drums = [e for e in piece.events if e.instrument == DRUMS]
    assert [note_of(e) for e in drums] == ["C2"] * 6 and all(e.duration == Fraction(1, 4) for e in drums)
    assert piece.bpm == pytest.approx(100.0)


def test_full_music21_parse_agrees_on_known_file(known_midi: Path) -> None:
    assert read_score(known_midi).events == without_drums(read_midi(known_midi).events)


# On these shipped files music21's full score building (ties, voices) merges a re-struck note into
# the note before it or splits a chord; the lean reader keeps the note lengths the file holds.
FULL_PATH_DIFFERS = {
    "beethoven_opus18no1_movement2.mid",
    "beethoven_opus59no1_movement2.mid",
    "beethoven_opus59no1_movement3.mid",
    "mozart_k155_movement3.mid",
    "mozart_k458_movement1.mid",
    "schoenberg_opus19_movement6.mid",
    "schumann_clara_opus17_movement3.mid",
}


def test_lean_reader_equals_full_music21_parse_on_shipped_corpus() -> None:
    # every sixth shipped file keeps the test under half a minute; benchmarks/run.py compares all 107
    songs = sorted((ROOT / "midi_songs").rglob("*.mid"))
    chosen = [song for song in songs[::6] if song.name not in FULL_PATH_DIFFERS]
    assert len(chosen) >= 15
    with ProcessPoolExecutor(max_workers=2) as pool:
        for song, full in zip(chosen, pool.map(read_score, chosen), strict=True):
            assert read_midi(song).events == full.events, song.name


def test_events_round_trip_through_midi(known_midi: Path, tmp_path: Path) -> None:
    events = read_piece(known_midi).events
    written = write_midi(events, tmp_path / "again.mid", bpm=90)
    again = read_piece(written)
    assert again.events == events  # the drums included, on channel 10 again
    assert again.bpm == pytest.approx(90.0)


def test_note_events_of_a_real_file_write_back_every_note(tmp_path: Path) -> None:
    from test_generation import mido_notes

    song = shipped("joplin_maple_leaf_rag.mid")
    notes = split_chords(read_piece(song).events)
    assert all("." not in note_of(e) for e in notes)
    assert mido_notes(write_midi(notes, tmp_path / "again.mid")) == mido_notes(song)  # pitch, onset and length


def test_the_lowest_and_highest_pitches_are_written_where_they_are(tmp_path: Path) -> None:
    events = [ev("C#-1", "0", "1"), ev("B-1.C0.G9", "1", "1")]  # MIDI 1, then 11, 12 and 127
    assert read_piece(write_midi(events, tmp_path / "edges.mid")).events == events


def test_splitting_chords_goes_lowest_first_and_joins_back() -> None:
    chords = tokens_of(split_chords([ev(*e) for e in KNOWN_EVENTS]))
    expected = [("C3", "0", "4"), ("C4", "0", "1"), ("E4", "1", "2"), ("G4", "0", "2"), ("G2", "3", "2")]
    assert chords[:5] == [(*e, "0") for e in expected]
    assert tokens_of(join_chords(split_chords([ev(*e) for e in KNOWN_EVENTS]))) == KNOWN_EVENTS
    for song in sorted((ROOT / "midi_songs").rglob("*.mid"))[::20]:
        events = read_piece(song).events
        assert join_chords(split_chords(events)) == events, song.name


def test_chords_keep_octaves_and_spelling_is_unique() -> None:
    assert note_token([76, 48, 64]) == "C3.E4.E5"
    assert pitch_name(63) == "D#4"
    assert all(pitch_number(pitch_name(m)) == m for m in range(128))


def test_quarter_lengths_are_exact_and_canonical() -> None:
    assert format_ql(Fraction(1, 3)) == "1/3"
    assert format_ql(Fraction(1, 2)) == "0.5"
    assert format_ql(Fraction(4)) == "4"
    assert format_ql(Fraction(7, 6)) == "7/6"
    for text in ["1/3", "0.5", "4", "7/6", "0.25", "2/3"]:
        assert format_ql(parse_ql(text)) == text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.mid", b"", "empty file"),
        ("text.mid", b"this is not music\n", "not a MIDI file"),
        ("corrupt.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\x12garbage", "cannot read MIDI"),
    ],
)
def test_bad_files_are_refused_with_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason):
        read_piece(path)


def test_drums_only_file_is_read_as_drums_and_left_out_without_them(tmp_path: Path) -> None:
    from lstm_music.data.corpus import load_corpus

    path = write_tracks(tmp_path / "drums.mid", [[(b, 0.5, 38, 9) for b in range(8)]])
    assert set(tokens_of(read_piece(path).events)) == {("D2", e, "0.5", "drums") for e in ("0", "1")}
    assert (
        load_corpus(tmp_path, None, workers=1, progress=False, drums=True).pieces[0].events == read_piece(path).events
    )
    with pytest.raises(Exception, match="all 1 files were skipped"):
        load_corpus(tmp_path, None, workers=1, progress=False)


def test_type_0_file_keeps_every_pitched_channel(tmp_path: Path) -> None:
    import mido

    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90))])
    midi.tracks.append(track)
    timed = []
    for beat in range(2):
        for channel, pitch, length in ((0, 60 + beat, 480), (2, 48, 240), (9, 36, 120)):  # piano, strings, drums
            timed.append((beat * 480, 1, mido.Message("note_on", note=pitch, velocity=80, channel=channel)))
            timed.append((beat * 480 + length, 0, mido.Message("note_off", note=pitch, channel=channel)))
    now = 0
    for tick, _, message in sorted(timed, key=lambda m: (m[0], m[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    midi.save(tmp_path / "type0.mid")
    piece = read_midi(tmp_path / "type0.mid")
    expected = [("C3", "0", "0.5", "0"), ("C4", "0", "1", "0"), ("C3", "1", "0.5", "0"), ("C#4", "0", "1", "0")]
    assert tokens_of(without_drums(piece.events)) == expected
    assert [note_of(e) for e in piece.events if e.instrument == DRUMS] == ["C2", "C2"]
    assert piece.bpm == pytest.approx(90.0)


def test_direct_writer_writes_the_notes_music21_writes(tmp_path: Path) -> None:
    import mido
    from music21.midi import translate

    from lstm_music.data.midi_io import events_to_score

    def heard(path: Path) -> tuple[list, set, list]:
        """Notes (onset, length, pitch) in quarters, programs and tempi of a MIDI file, read with mido."""
        from test_generation import mido_notes

        messages = [m for track in mido.MidiFile(path).tracks for m in track]
        programs = {m.program for m in messages if m.type == "program_change"}
        tempi = sorted({round(mido.tempo2bpm(m.tempo), 3) for m in messages if m.type == "set_tempo"})
        return mido_notes(path), programs, tempi

    song = shipped("joplin_maple_leaf_rag.mid")  # chords, triplets, re-struck pitches
    events = split_chords(read_piece(song).events)[:1500]
    direct = write_midi(events, tmp_path / "direct.mid", forced=40, bpm=93.5)
    reference = translate.streamToMidiFile(events_to_score(events, 40, 93.5))
    reference.open(str(tmp_path / "music21.mid"), "wb")
    reference.write()
    reference.close()
    notes, programs, tempi = heard(direct)
    assert (notes, programs, tempi) == heard(tmp_path / "music21.mid")
    assert len(notes) > 1000 and programs == {40} and tempi == [93.5]


@pytest.mark.parametrize(("tempo", "bpm"), [(0, None), (1, None), (16_000_000, None), (600_000, 100.0)])
def test_implausible_tempi_are_ignored_and_the_notes_kept(tmp_path: Path, tempo: int, bpm: float | None) -> None:
    import mido

    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    for pitch in (60, 64, 67):
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, time=480))
    path = tmp_path / f"tempo{tempo}.mid"
    mido.MidiFile(ticks_per_beat=480, tracks=[track]).save(path)
    piece = read_piece(path)  # a tempo of 0 used to make the whole file unreadable (ZeroDivisionError)
    assert [note_of(e) for e in piece.events] == ["C4", "E4", "G4"]
    assert piece.bpm == bpm
