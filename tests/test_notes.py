"""Pieces held as numbers (`notes`): the cache stores them, and training prepares, counts and encodes
them into exactly the events, counts and rows of the event-list path, which works event by event."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, write_tracks
from test_instruments import BASS, CHORDS, MELODY, write_ensemble

from lstm_music.data.corpus import load_corpus
from lstm_music.data.encoding import encode_piece
from lstm_music.data.events import Piece, split_chords
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


@pytest.mark.parametrize("common_key", [False, True])
@pytest.mark.parametrize("instruments", [False, True])
def test_prepared_numbers_give_the_events_of_the_list_path(corpus_pieces, common_key, instruments) -> None:
    plays_as = {1: 0} if instruments else None  # the bright piano plays as the grand piano
    for piece in corpus_pieces:
        fast = prepare_piece(piece, "note", common_key, instruments, plays_as)
        slow = prepare_piece(as_list(piece), "note", common_key, instruments, plays_as)
        assert isinstance(fast.events, NoteEvents) and not isinstance(slow.events, NoteEvents)
        assert list(fast.events) == slow.events and len(fast.events) == len(slow.events), piece.path
        for shift in (-7, 5, 60):
            moved, expected = transpose_piece(fast, shift), transpose_piece(slow, shift)
            assert (moved is None) == (expected is None), (piece.path, shift)
            if moved is not None:
                assert moved.path == expected.path and list(moved.events) == expected.events


def test_counts_rows_and_unknown_notes_are_those_of_the_list_path(corpus_pieces) -> None:
    fast = [prepare_piece(p, "note", True, True) for p in corpus_pieces]
    slow = [prepare_piece(as_list(p), "note", True, True) for p in corpus_pieces]
    census, expected = count_tokens(fast), count_tokens(slow)
    assert census.counts == expected.counts and census.sizes == expected.sizes
    vocabularies = build_vocabularies(census, 3, "note", instruments=True)  # some rhythms become <unk>
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(encode_piece(a, vocabularies), encode_piece(b, vocabularies)), a.path
    counts = unknown_notes(fast, vocabularies)
    assert counts == unknown_notes(slow, vocabularies) and counts["rhythm"] > 0
    assert instruments_used(corpus_pieces) == instruments_used([as_list(p) for p in corpus_pieces])
