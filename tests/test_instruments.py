"""Instruments: each note keeps what plays it, from MIDI in to a model with a fourth stream to MIDI out."""

import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from conftest import ROOT, TPQ, ev, note_of, split_chords, tokens_of, train_args, write_tracks

from lstm_music.data.events import Event, merge_instruments, without_drums
from lstm_music.data.instruments import DRUMS, channels
from lstm_music.data.midi_io import read_piece, write_midi
from lstm_music.evaluate.metrics import instrument_report

VIOLIN, CELLO, PIANO = 40, 42, 0


def write_ensemble(path: Path, parts: list[tuple[int, int, list[tuple[float, float, int]]]], bpm: float = 96) -> Path:
    """A type-1 MIDI file with one track per part: (channel, program or -1 for none, notes as
    (start, length, pitch) in quarters)."""
    tracks = [[(start, length, pitch, channel) for start, length, pitch in notes] for channel, _, notes in parts]
    programs = [(channel, program) if program >= 0 else None for channel, program, _ in parts]
    return write_tracks(path, tracks, bpm, programs)


MELODY = [(i * 0.5, 0.5, pitch) for i, pitch in enumerate([76, 74, 72, 74, 76, 76, 76, 79])]
BASS = [(0, 2, 48), (2, 2, 43)]
CHORDS = [(0, 2, 60), (0, 2, 64), (0, 2, 67), (2, 2, 59), (2, 2, 62), (2, 2, 67)]


def trio(path: Path, melody=MELODY, bass=BASS) -> Path:
    """Violin melody, cello bass and piano chords; the cello's E3 also sounds in the piano's first chord
    range, and the piano's G4 in both chords is struck with a chord of the same onset as the cello."""
    return write_ensemble(path, [(0, VIOLIN, melody), (1, CELLO, bass), (2, PIANO, CHORDS)])


def played(events: list[Event]) -> set[tuple]:
    """Every note as (absolute onset, pitch, duration, instrument)."""
    from lstm_music.data.events import event_onsets

    return {(start, pitch, length, i) for start, length, pitches, i in event_onsets(events) for pitch in pitches}


def test_three_instruments_survive_read_events_write(tmp_path: Path) -> None:
    piece = read_piece(trio(tmp_path / "trio.mid"))
    assert {e.instrument for e in piece.events} == {40, 42, 0}
    violin = [note_of(e) for e in piece.events if e.instrument == 40]
    assert violin == ["E5", "D5", "C5", "D5", "E5", "E5", "E5", "G5"]
    assert [note_of(e) for e in piece.events if e.instrument == 42] == ["C3", "G2"]
    assert [note_of(e) for e in piece.events if e.instrument == 0] == [
        "C4.E4.G4",
        "B3.D4.G4",
    ]  # chords of one instrument
    again = read_piece(write_midi(piece.events, tmp_path / "again.mid"))
    assert again.events == piece.events
    notes = split_chords(piece.events)  # the note-level form the model learns from
    assert played(read_piece(write_midi(notes, tmp_path / "notes.mid")).events) == played(piece.events)
    tracks = mido.MidiFile(tmp_path / "again.mid").tracks
    assert [t.name for t in tracks] == ["Acoustic Grand Piano", "Violin", "Cello"]
    used = {(m.channel, m.program) for t in tracks for m in t if m.type == "program_change"}
    assert used == {(0, PIANO), (1, VIOLIN), (2, CELLO)}


def test_notes_of_different_instruments_never_form_one_chord(tmp_path: Path) -> None:
    path = write_ensemble(tmp_path / "unison.mid", [(0, VIOLIN, [(0, 1, 67)]), (1, 41, [(0, 1, 60)])])
    assert tokens_of(read_piece(path).events) == [("C4", "0", "1", "41"), ("G4", "0", "1", "40")]
    assert tokens_of(merge_instruments(read_piece(path).events)) == [("C4.G4", "0", "1", "0")]


def test_merge_reproduces_the_events_of_one_merged_instrument(tmp_path: Path) -> None:
    three = read_piece(trio(tmp_path / "trio.mid")).events
    one = write_ensemble(tmp_path / "one.mid", [(0, -1, MELODY), (1, -1, BASS), (2, -1, CHORDS)])
    assert merge_instruments(three) == read_piece(one).events  # what the parser read before instruments


def test_program_changes_inside_a_track_are_followed(tmp_path: Path) -> None:
    midi = mido.MidiFile(ticks_per_beat=TPQ)
    track = mido.MidiTrack()
    for program, pitch in [(VIOLIN, 72), (73, 74), (None, 76), (VIOLIN, 77)]:  # a change before all notes but one
        if program is not None:
            track.append(mido.Message("program_change", program=program, channel=0, time=0))
        track.append(mido.Message("note_on", note=pitch, velocity=80, channel=0, time=0))
        track.append(mido.Message("note_off", note=pitch, channel=0, time=TPQ))
    midi.tracks.append(track)
    midi.save(str(tmp_path / "changes.mid"))
    assert [(note_of(e), e.instrument) for e in read_piece(tmp_path / "changes.mid").events] == [
        ("C5", 40),
        ("D5", 73),
        ("E5", 73),
        ("F5", 40),
    ]


def test_hostile_files_give_usable_pieces(tmp_path: Path) -> None:
    pitched = [c for c in range(16) if c != 9]
    parts = [(pitched[i % 15], (i * 7) % 128, [(i * 0.25, 0.25, 40 + i % 50)] if i % 2 else []) for i in range(300)]
    piece = read_piece(write_ensemble(tmp_path / "many.mid", parts))  # 300 tracks, half of them empty
    assert len(piece.events) == 150
    written = mido.MidiFile(write_midi(piece.events, tmp_path / "again.mid"))
    assert all(m.channel != 9 for t in written.tracks for m in t if m.type == "note_on")  # never on the drum channel
    assert played(read_piece(tmp_path / "again.mid").events) == played(piece.events)
    pitched_drums = write_ensemble(tmp_path / "drums.mid", [(9, 0, MELODY)])  # a melody on channel 10 by mistake
    assert {e.instrument for e in read_piece(pitched_drums).events} == {DRUMS}


def test_channels_keep_drums_on_ten_and_pitched_instruments_off_it() -> None:
    assigned = channels([0, DRUMS, *range(1, 20)])
    assert assigned[DRUMS] == 9
    assert all(channel != 9 for token, channel in assigned.items() if token != DRUMS)


def test_drums_are_written_back_on_channel_ten(tmp_path: Path) -> None:
    path = write_ensemble(tmp_path / "band.mid", [(0, 33, BASS), (9, 0, [(b, 0.25, 36) for b in range(4)])])
    events = read_piece(path).events
    assert {e.instrument for e in events} == {33, DRUMS}
    forced = read_piece(write_midi(events, tmp_path / "forced.mid", forced=73)).events  # a flute, the drums kept
    assert played(forced) == {(s, p, n, DRUMS if i == DRUMS else 73) for s, p, n, i in played(events)}
    written = mido.MidiFile(write_midi(events, tmp_path / "again.mid"))
    drum_channels = {m.channel for t in written.tracks for m in t if m.type == "note_on" and m.note == 36}
    assert drum_channels == {9}
    assert without_drums(read_piece(tmp_path / "again.mid").events) == without_drums(events)


def test_instrument_report_finds_a_part_outside_its_real_range() -> None:
    real = [[ev("C3", "0", "1", "42"), ev("G5", "0", "1", "40"), ev("E3", "1", "1", "42")]] * 3
    generated = [[ev("C3", "0", "1", "42"), ev("A5", "0", "1", "42"), ev("G5", "0", "1", "40")]]
    report = instrument_report(generated, real)
    assert report["42"]["notes_outside_range"] == pytest.approx(0.5)  # the cello's A5 is the violin's register
    assert report["40"]["notes_outside_range"] == 0.0
    assert report["42"]["pitch_range"]["generated_median"] == 33 and not report["42"]["pitch_range"]["median_inside"]


@pytest.fixture(scope="module")
def trios(tmp_path_factory) -> Path:
    """Four short trios, each a transposition of `trio` repeated four times."""
    data = tmp_path_factory.mktemp("trios")
    for k in range(4):
        melody = [(start + 4 * r, length, pitch + k) for r in range(4) for start, length, pitch in MELODY]
        bass = [(start + 4 * r, length, pitch + k) for r in range(4) for start, length, pitch in BASS]
        trio(data / f"trio{k}.mid", melody, bass)
    return data


def train_trios(trios: Path, tmp_path_factory, name: str, *extra: str) -> Path:
    """The run folder of a tiny model trained for two epochs on `trios`."""
    from train import main

    weights = tmp_path_factory.mktemp("weights")
    flags = train_args(
        trios, weights, tmp_path_factory.mktemp("cache"), name, "--epochs", "2", "--val-fraction", "0.25"
    )
    assert main([*flags, *extra]) == 0
    return weights / name


@pytest.fixture(scope="module")
def trio_run(trios: Path, tmp_path_factory) -> Path:
    """A tiny model trained with an instrument stream (first in the chain, the default) on the trios."""
    return train_trios(trios, tmp_path_factory, "trio")


@pytest.fixture(scope="module")
def trio_last_run(trios: Path, tmp_path_factory) -> Path:
    """The same with the instrument last in the chain."""
    return train_trios(trios, tmp_path_factory, "trio-last", "--no-instrument-first")


@pytest.mark.parametrize("run", ["trio_run", "trio_last_run"])
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_the_compiled_loop_draws_what_the_reference_path_draws_with_instruments(
    run: str, temperature: float, trios: Path, request
) -> None:
    import numpy as np
    from reference_sampler import ReferenceSampler

    from lstm_music.data.encoding import encode_piece
    from lstm_music.data.preparation import prepare_piece
    from lstm_music.data.vocab import same_onset_index
    from lstm_music.generate.sampling import Sampler, SamplingSettings
    from lstm_music.model.checkpoint import load_checkpoint
    from lstm_music.streams import ALL_STREAMS

    model, metadata, vocabularies = load_checkpoint(request.getfixturevalue(run) / "best.weights.h5")
    assert model.music_layers.chain[0] == ("note" if run == "trio_last_run" else "instrument")
    settings = SamplingSettings({s: temperature for s in ALL_STREAMS}, 0, 1.0, metadata.repeat_weights)
    first = prepare_piece(read_piece(sorted(trios.iterdir())[0]), "note", False, True)  # its own key and instruments
    primer = encode_piece(first, vocabularies)[1:20]
    sampler = Sampler(model, same_onset_index(vocabularies, "note"))
    oracle = ReferenceSampler(model, same_onset_index(vocabularies, "note"))
    reference = oracle.generate(80, 3, settings, seed=5, primer=primer)
    compiled = sampler.generate(80, 3, settings, seed=5, primer=primer)
    assert np.array_equal(compiled, reference)
    assert compiled.shape == (3, 80, 4) and (compiled[..., 3] >= 2).all()  # an instrument, never a special token


def test_a_model_with_instruments_writes_one_track_per_instrument(trio_run: Path, tmp_path: Path) -> None:
    from lstm_music.model.checkpoint import load_checkpoint
    from lstm_music.streams import INSTRUMENT

    model, _, vocabularies = load_checkpoint(trio_run / "best.weights.h5")
    assert set(vocabularies[INSTRUMENT].tokens[2:]) == {"0", "40", "42"}
    assert model.music_layers.streams == ("note", "offset", "duration", "instrument")
    out = tmp_path / "trio.mid"
    command = [sys.executable, "generate_music.py", "--checkpoint", str(trio_run), "--out", str(out)]
    result = subprocess.run([*command, "--seed", "3", "--length", "300"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tracks = mido.MidiFile(out).tracks
    programs = {m.program for t in tracks for m in t if m.type == "program_change"}
    assert len(tracks) == len(programs) >= 2 and programs <= {PIANO, VIOLIN, CELLO}
    assert {read_piece(out).events[0].instrument} <= {0, 40, 42}
    forced = tmp_path / "forced.mid"
    result = subprocess.run(
        [*command[:-1], str(forced), "--seed", "3", "--length", "300", "--instrument", "flute"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert {m.program for t in mido.MidiFile(forced).tracks for m in t if m.type == "program_change"} == {73}


def test_drums_cannot_be_merged(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "train.py", "--parse-only", "--drums", "--instruments", "merge", "--data", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: --drums needs an instrument stream: it cannot be used with --instruments merge"
    )


def test_musicxml_gets_one_part_per_instrument(tmp_path: Path) -> None:
    from lstm_music.data.midi_io import events_to_score

    events = read_piece(trio(tmp_path / "trio.mid")).events
    score = events_to_score(events)
    assert [part.partName for part in score.parts] == ["Acoustic Grand Piano", "Violin", "Cello"]
    assert [len(part.flatten().notes) for part in score.parts] == [2, 8, 2]  # the piano's two chords
    onsets = [[float(n.offset) for n in part.flatten().notes] for part in score.parts]
    assert onsets == [[0, 2], [i * 0.5 for i in range(8)], [0, 2]]  # each part at its own times
    assert len(events_to_score(events, forced=73).parts) == 1


def test_an_instrument_seen_once_is_still_an_instrument() -> None:
    from lstm_music.data.encoding import encode_piece
    from lstm_music.data.events import Piece
    from lstm_music.data.vocab import build_vocabularies
    from lstm_music.streams import INSTRUMENT

    pieces = [Piece("a", [ev("C4", "0", "1", "40")] * 20), Piece("b", [ev("C2", "0", "1", "71")])]
    vocabularies = build_vocabularies(pieces, min_count=2, representation="note", instruments=True)
    assert vocabularies[INSTRUMENT].tokens == ["<unk>", "<start>", "40", "71"]  # min-count is for rhythms
    assert encode_piece(pieces[1], vocabularies)[1].tolist() == [2 + 36, 2, 2, 3]  # C2 on the clarinet, not <unk>


def test_auto_learns_the_instruments_that_hold_a_real_share_of_the_notes() -> None:
    from lstm_music.data.instruments import instrument_plan

    assert instrument_plan({0: 990, 1: 10}, "auto") == (False, {})  # two pianos are one instrument to a listener
    assert instrument_plan({0: 990, 1: 10}, "separate") == (True, {})
    assert instrument_plan({40: 300, 41: 250, 42: 200}, "merge") == (False, {})
    quartet = {40: 520, 42: 210, 41: 200}  # two violins, cello and viola: one family, all three learned
    assert instrument_plan(quartet, "auto") == (True, {})
    game = {0: 600, 48: 250, 33: 100, 1: 20, 4: 10, 49: 10, 73: 8, 81: 2}  # a piano arrangement
    learned, plays_as = instrument_plan(game, "auto")
    assert learned and plays_as == {1: 0, 4: 0, 49: 48, 73: 0, 81: 0}  # its family, else piano
    assert instrument_plan({0: 980, DRUMS: 20}, "auto") == (True, {})  # drums were asked for: they stay


def test_a_folder_of_one_instrument_with_a_rare_second_trains_three_streams_on_the_first(tmp_path: Path) -> None:
    from lstm_music.data.vocab import vocabularies_from_json
    from lstm_music.model.checkpoint import read_metadata
    from lstm_music.streams import INSTRUMENT
    from train import main

    data = tmp_path / "violin"
    data.mkdir()
    for k in range(4):  # a violin melody; one piece doubles one note on the viola (1% of the notes)
        melody = [(start + 4 * r, length, pitch + k) for r in range(12) for start, length, pitch in MELODY]
        write_ensemble(data / f"v{k}.mid", [(0, VIOLIN, melody), *([(1, 41, [(0, 1, 60)])] if k == 0 else [])])
    flags = train_args(data, tmp_path / "w", tmp_path / "c", "violin", "--epochs", "1", "--val-fraction", "0.25")
    assert main(flags) == 0
    metadata = read_metadata(tmp_path / "w" / "violin" / "best.weights.h5")
    assert INSTRUMENT not in vocabularies_from_json(metadata.vocabularies) and metadata.plays == 40
    out = tmp_path / "out.mid"
    command = [sys.executable, "generate_music.py", "--checkpoint", str(tmp_path / "w" / "violin"), "--out", str(out)]
    result = subprocess.run([*command, "--length", "20", "--seed", "1"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert {m.program for t in mido.MidiFile(out).tracks for m in t if m.type == "program_change"} == {VIOLIN}
    summary = subprocess.run([sys.executable, "train.py", "--parse-only", "--data", str(data), "--cache-dir",
                              str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True).stdout  # fmt: skip
    assert "instruments (2, merged into one, played as Violin): Violin 99.7%, Viola 0.3%" in summary


def test_checkpoint_metadata_stores_instruments_as_tokens_and_reads_them_as_numbers() -> None:
    from lstm_music.model.checkpoint import Metadata

    stored = json.dumps(Metadata({}, {}, instruments=True, plays_as={1: 0, DRUMS: 0}, plays=40).to_dict())
    assert '"plays_as": {"1": "0", "drums": "0"}' in stored and '"plays": "40"' in stored  # as before numbers
    metadata = Metadata.from_dict(json.loads(stored))
    assert (metadata.plays_as, metadata.plays) == ({1: 0, DRUMS: 0}, 40)
    for damaged in ("drums", 7, {"violin": "0"}):
        with pytest.raises((TypeError, ValueError)):
            Metadata.from_dict(json.loads(stored.replace('{"1": "0", "drums": "0"}', json.dumps(damaged))))
