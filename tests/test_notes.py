"""Pieces held as numbers (`notes`): the cache stores them, and training prepares, counts and encodes
them into exactly the events, counts and rows of the event-list path, which works event by event."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, split_chords, write_tracks
from test_instruments import BASS, CHORDS, MELODY, write_ensemble

from lstm_music.data.corpus import load_corpus
from lstm_music.data.encoding import encode_piece
from lstm_music.data.events import Piece, join_chords, merge_instruments
from lstm_music.data.instruments import DRUMS
from lstm_music.data.keys import shift_to_common_key
from lstm_music.data.midi_io import read_piece
from lstm_music.data.notes import NoteEvents, Notes
from lstm_music.data.preparation import prepare_piece, transpose_piece
from lstm_music.data.vocab import build_vocabularies, count_tokens, instruments_used, unknown_notes

ENSEMBLES = ["haydn_opus1no1_movement1.mid", "mozart_k80_movement1.mid"]


@pytest.fixture(scope="module")
def corpus_pieces(tmp_path_factory) -> list[Piece]:
    """midi_songs/, two string quartets and a trio of violin, cello, piano and drums with a bright
    piano doubling, read through a cache: their events are `NoteEvents`."""
    folder = tmp_path_factory.mktemp("songs")
    shutil.copytree(ROOT / "midi_songs", folder / "midi_songs")
    for name in ENSEMBLES:
        shutil.copy(ROOT / "midi_ensembles" / name, folder / name)
    drums = [(beat / 2, 0.25, 36 + beat % 3, 9) for beat in range(16)]
    bright = [(0, 2, 64), (0, 2, 67)]  # the piano's chord doubled on another piano program, at the same time
    write_ensemble(folder / "trio.mid", [(0, 40, MELODY), (1, 42, BASS), (2, 0, CHORDS), (3, 1, bright)])
    write_tracks(folder / "drums.mid", [[(s, n, p, 0) for s, n, p in MELODY], drums])
    cache = tmp_path_factory.mktemp("cache")
    load_corpus(folder, cache, workers=2, progress=False, drums=True)
    return load_corpus(folder, cache, workers=1, progress=False, drums=True).pieces


def as_list(piece: Piece) -> Piece:
    """The same piece with its events as a plain list: what the event-list path reads."""
    return Piece(piece.path, list(piece.events), piece.bpm)


def test_the_cache_holds_the_parsed_events_as_numbers(corpus_pieces, tmp_path: Path) -> None:
    assert all(isinstance(p.events, NoteEvents) and p.events.chords for p in corpus_pieces)
    song = next(p for p in corpus_pieces if p.path.endswith("joplin_maple_leaf_rag.mid"))
    parsed = read_piece(ROOT / "midi_songs" / song.path.split("/", 1)[1])
    assert song.events == parsed.events and len(song.events) == len(parsed.events)
    assert Notes.from_events(parsed.events).note_events() == split_chords(parsed.events)


def prepared_event_by_event(piece: Piece, common_key: bool, instruments: bool, plays_as: dict | None) -> list:
    """`prepare_piece`'s note events made from the events one at a time: instruments merged, or played
    as others and their chords joined; moved to the common key unless a pitch would leave MIDI; split."""
    events = list(piece.events)
    if not instruments:
        events = merge_instruments(events)
    elif plays_as:
        events = join_chords([e._replace(instrument=plays_as.get(e.instrument, e.instrument)) for e in events])
    shift = shift_to_common_key([p for e in events if e.instrument != DRUMS for p in e.pitches]) if common_key else 0
    moved = [e if e.instrument == DRUMS else e._replace(pitches=tuple(p + shift for p in e.pitches)) for e in events]
    return split_chords(moved if all(0 <= p <= 127 for e in moved for p in e.pitches) else events)


@pytest.mark.parametrize("common_key", [False, True])
@pytest.mark.parametrize("instruments", [False, True])
def test_prepared_numbers_give_the_events_made_event_by_event(corpus_pieces, common_key, instruments) -> None:
    plays_as = {1: 0} if instruments else None  # the bright piano plays as the grand piano
    for piece in corpus_pieces:
        fast = prepare_piece(piece, "note", common_key, instruments, plays_as)
        expected = prepared_event_by_event(piece, common_key, instruments, plays_as)
        assert isinstance(fast.events, NoteEvents) and list(fast.events) == expected, piece.path
        assert prepare_piece(as_list(piece), "note", common_key, instruments, plays_as).events == expected
        for shift in (-7, 5, 60):
            moved = transpose_piece(fast, shift)
            pitched = [p + shift for e in expected if e.instrument != DRUMS for p in e.pitches]
            assert (moved is None) == (min(pitched) < 0 or max(pitched) > 127), (piece.path, shift)
            if moved is not None:
                by_hand = [e._replace(pitches=(e.pitches[0] + shift * (e.instrument != DRUMS),)) for e in expected]
                assert moved.path == f"{piece.path} ({shift:+d})" and list(moved.events) == by_hand


def test_counts_rows_and_unknown_notes_are_those_of_the_list_path(corpus_pieces) -> None:
    fast = [prepare_piece(p, "note", True, True) for p in corpus_pieces]
    slow = [as_list(p) for p in fast]
    census, expected = count_tokens(fast), count_tokens(slow)
    assert census.counts == expected.counts and census.sizes == expected.sizes
    vocabularies = build_vocabularies(census, 3, "note", instruments=True)  # some rhythms become <unk>
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(encode_piece(a, vocabularies), encode_piece(b, vocabularies)), a.path
    counts = unknown_notes(fast, vocabularies)
    assert counts == unknown_notes(slow, vocabularies) and counts["rhythm"] > 0
    assert instruments_used(corpus_pieces) == instruments_used([as_list(p) for p in corpus_pieces])
