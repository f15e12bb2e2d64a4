"""Vocabularies, split by piece, transposition and sequence-to-sequence windows."""

import numpy as np
import pytest
from conftest import ev, note_of

from lstm_music.data.dataset import WindowDataset, window_starts
from lstm_music.data.encoding import encode_piece, encode_to_file, split_encoded
from lstm_music.data.events import Piece
from lstm_music.data.preparation import prepare, prepare_piece, prepared, shifts, split_pieces, transpose_piece
from lstm_music.data.vocab import (
    Vocabulary,
    build_vocabularies,
    count_tokens,
    pitch_vocabulary,
    vocabularies_from_json,
    vocabularies_to_json,
)
from lstm_music.generate.conditions import choose_registers
from lstm_music.streams import (
    REGISTER_KEY,
    START_INDEX,
    STREAMS,
    UNK_INDEX,
    given_key,
    input_key,
    model_inputs,
    piece_register,
)


def piece(name: str, notes: list[str]) -> Piece:
    return Piece(name, [ev(n, "0.5", "1/3" if i % 2 else "1") for i, n in enumerate(notes)])


def test_vocabulary_order_min_count_and_json_round_trip() -> None:
    pieces = [piece("a", ["C4", "D4", "C4", "E4.G4", "C4"]), piece("b", ["D4", "F#2"])]
    vocabularies = build_vocabularies(pieces, min_count=2)
    assert vocabularies["note"].tokens == ["<unk>", "<start>", "C4", "D4"]
    assert vocabularies["offset"].tokens == ["<unk>", "<start>", "0.5"]
    assert vocabularies["duration"].tokens == ["<unk>", "<start>", "1", "1/3"]
    assert vocabularies["note"].encode("E4.G4") == UNK_INDEX
    again = vocabularies_from_json(vocabularies_to_json(vocabularies))
    assert {s: v.tokens for s, v in again.items()} == {s: v.tokens for s, v in vocabularies.items()}
    rows = encode_piece(pieces[0], again)
    assert rows.tolist()[0] == [START_INDEX] * 3
    assert rows[1:, 0].tolist() == [2, 3, 2, UNK_INDEX, 2]
    with pytest.raises(ValueError):
        Vocabulary(["C4"])


def test_split_is_by_piece_and_deterministic() -> None:
    pieces = [piece(f"p{i}", ["C4"] * (i + 1)) for i in range(25)]
    train, validation = split_pieces(pieces, 0.1, seed=3)
    assert len(validation) == 2 and len(train) == 23
    assert not {p.path for p in train} & {p.path for p in validation}
    assert {p.path for p in train} | {p.path for p in validation} == {p.path for p in pieces}
    again_train, again_validation = split_pieces(pieces, 0.1, seed=3)
    assert [p.path for p in again_validation] == [p.path for p in validation]
    assert [p.path for p in split_pieces(pieces, 0.1, seed=4)[1]] != [p.path for p in validation]
    assert len(split_pieces(pieces[:2], 0.1)[1]) == 1
    assert split_pieces(pieces[:1], 0.1)[1] == []


def test_pieces_encoded_one_at_a_time_to_disk_equal_the_whole_corpus_encoded_in_memory(tmp_path) -> None:
    from conftest import ROOT

    from lstm_music.data.corpus import load_corpus

    folder = ROOT / "midi_songs" / "bach"
    pieces = load_corpus(folder, tmp_path / "cache", progress=False, in_memory=False).pieces[:6]
    pieces[0].events = [ev("C4.E4.G9", "0", "1"), *pieces[0].events]  # G9 + 1 leaves MIDI: not transposed up
    seen = prepare(pieces, "note", False)  # the pieces, then each moved down, then up
    whole = seen + [moved for s in (-1, 1) for moved in (transpose_piece(p, s) for p in seen) if moved is not None]
    census = count_tokens(prepared(pieces, "note", False, False, [0, *shifts(1)]))  # shifts(1) == [-1, 1]
    assert census.sizes == [len(p.events) for p in whole] and len(whole) == 6 * 3 - 1
    vocabularies = build_vocabularies(census, 2, "note")
    assert vocabularies_to_json(vocabularies) == vocabularies_to_json(build_vocabularies(whole, 2, "note"))
    semitones = [0, -1, 1]
    encode_to_file(tmp_path / "rows.npy", prepared(pieces, "note", False, False, semitones), census.sizes, vocabularies)
    rows = np.load(tmp_path / "rows.npy", mmap_mode="r")
    arrays = split_encoded(rows)
    assert len(arrays) == len(whole)
    for array, piece in zip(arrays, whole, strict=True):
        assert np.array_equal(array, encode_piece(piece, vocabularies))


def test_transposition_shifts_pitches_and_stays_in_range() -> None:
    original = prepare_piece(piece("a", ["C4", "E4.G4"]), "chord", False)
    up = transpose_piece(original, 2)
    assert [note_of(e) for e in up.events] == ["D4", "F#4.A4"] and up.path == "a (+2)"
    assert [e.duration for e in up.events] == [e.duration for e in original.events]
    assert transpose_piece(prepare_piece(piece("high", ["G9"]), "note", False), 1) is None
    assert len(list(prepared([piece("a", ["C4", "E4.G4"])], "note", False, False, [0, *shifts(2)]))) == 5


def test_window_starts_cover_every_position() -> None:
    assert window_starts(rows=11, length=4, stride=2) == [0, 2, 4, 6]
    assert window_starts(rows=12, length=4, stride=2) == [0, 2, 4, 6, 7]
    assert window_starts(rows=3, length=4, stride=2) == [0]


def test_windows_targets_are_inputs_shifted_by_one() -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(2, 50, size=(n, 3)).astype(np.int32) for n in (30, 17, 5)]
    data = WindowDataset(arrays, length=8, batch_size=4, shuffle=True, seed=1)
    seen = 0
    for index in range(len(data)):
        inputs, targets, weight = data[index]
        assert set(inputs) == {input_key(s) for s in STREAMS} and set(targets) == set(STREAMS)
        for s in STREAMS:
            assert inputs[input_key(s)].shape == targets[s].shape == weight.shape
            real = weight > 0
            # position t's target is position t+1's input wherever both are real events
            assert np.array_equal(targets[s][:, :-1][real[:, 1:]], inputs[input_key(s)][:, 1:][real[:, 1:]])
        seen += int(weight.sum())
    assert seen == data.targets
    short = WindowDataset([arrays[2]], length=8, batch_size=1, shuffle=False)
    inputs, targets, weight = short[0]
    assert weight.tolist() == [[1, 1, 1, 1, 0, 0, 0, 0]]
    assert inputs["note_in"][0, :5].tolist() == arrays[2][:, 0].tolist()
    assert targets["note"][0, :4].tolist() == arrays[2][1:, 0].tolist()


def test_cold_starts_read_start_first_and_keep_every_target() -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.integers(2, 50, size=(n, 3)).astype(np.int32) for n in (40, 25)]
    plain = WindowDataset(arrays, length=8, batch_size=100, shuffle=False, styles=[1, 2])
    cold = WindowDataset(arrays, length=8, batch_size=100, shuffle=False, styles=[1, 2], cold_starts=1.0)
    half = WindowDataset(arrays, length=8, batch_size=100, shuffle=False, styles=[1, 2], cold_starts=0.5)
    (before, targets, weight), (after, cold_targets, cold_weight) = plain[0], cold[0]
    inside = cold.windows[:, 1] > 0  # windows that start inside a piece
    assert inside.sum() >= 6 and (~inside).sum() == 2
    for s in STREAMS:
        assert (after[input_key(s)][inside, 0] == START_INDEX).all()
        assert np.array_equal(after[input_key(s)][~inside], before[input_key(s)][~inside])  # real openings stay
        assert np.array_equal(after[input_key(s)][:, 1:], before[input_key(s)][:, 1:])
        assert np.array_equal(cold_targets[s], targets[s])
    assert np.array_equal(cold_weight, weight)
    some = (half[0][0]["note_in"][inside, 0] == START_INDEX).mean()
    assert 0.2 < some < 0.8


def test_conditioned_inputs_are_given_the_targets_of_earlier_heads() -> None:
    rng = np.random.default_rng(2)
    arrays = [rng.integers(2, 50, size=(n, 3)).astype(np.int32) for n in (30, 12)]
    names = [input_key(s) for s in STREAMS] + [given_key("note"), given_key("offset")]
    data = WindowDataset(arrays, length=8, batch_size=3, shuffle=True, seed=0, names=names)
    inputs, targets, _ = data[0]
    assert set(inputs) == set(names)
    assert np.array_equal(inputs[given_key("note")], targets["note"])
    assert np.array_equal(inputs[given_key("offset")], targets["offset"])


def test_every_window_reads_the_register_of_its_whole_piece() -> None:
    # a low piece (bass line) and a high one (descant), encoded with the pitch vocabulary
    vocabularies = {"note": pitch_vocabulary()} | {s: Vocabulary.build(["0.5", "1", "1/3"]) for s in STREAMS[1:]}
    low = encode_piece(piece("low", [f"{n}2" for n in "CDEFGAB" * 6]), vocabularies)
    high = encode_piece(piece("high", [f"{n}5" for n in "CDEFGAB" * 6]), vocabularies)
    np.testing.assert_allclose(piece_register(low), np.percentile([36, 38, 40, 41, 43, 45, 47] * 6, [5, 95]))
    assert piece_register(high).tolist() == (piece_register(low) + 36).tolist()
    names = [input_key(s) for s in STREAMS] + [REGISTER_KEY]
    data = WindowDataset([low, high], length=8, batch_size=50, shuffle=True, seed=0, names=names)
    inputs, _, _ = data[0]
    for notes, register in zip(inputs["note_in"], inputs[REGISTER_KEY], strict=True):
        first = int(notes[1]) - 2  # a MIDI pitch of the window: which piece it came from
        expected = piece_register(low if first < 60 else high)
        assert register.tolist() == expected.tolist()  # the piece's, however short the window
    # whole pieces (as scoring feeds them) read their own register by default
    block = np.zeros((2, len(low), 3), dtype=np.int32)
    block[0], block[1] = low, high
    registers = model_inputs(block, names)[REGISTER_KEY]
    assert registers.tolist() == [piece_register(low).tolist(), piece_register(high).tolist()]


def test_generated_pieces_take_the_primers_register_or_a_training_pieces() -> None:
    known = [[40.0, 62.0], [55.0, 79.0], [48.0, 70.0]]
    drawn = choose_registers(known, 20, seed=4)
    assert drawn.shape == (20, 2) and {tuple(r) for r in drawn.tolist()} <= {tuple(r) for r in known}
    assert len({tuple(r) for r in drawn.tolist()}) > 1 and np.array_equal(drawn, choose_registers(known, 20, seed=4))
    primer = np.array([[2 + 50, 2, 2], [2 + 60, 2, 2], [2 + 70, 2, 2]])
    assert choose_registers(known, 3, seed=4, primer=primer).tolist() == [piece_register(primer).tolist()] * 3
    assert choose_registers(None, 3, seed=4) is None  # a checkpoint without registers: the model has no such input
