"""The repeat memory: matching earlier stretches of a piece, copy distributions, fitted weights, mixing."""

import numpy as np
from reference_sampler import ReferenceSampler, copy_distribution

from lstm_music.model.repeats import (
    BUCKETS,
    MAX_CONTEXT,
    PieceMemory,
    copy_probabilities,
    fit_weights,
    mixed_cross_entropy,
    weight,
)
from lstm_music.streams import STREAMS

A, B, C, D = (2, 2, 2), (3, 2, 4), (4, 3, 2), (5, 2, 2)


def memory_of(*rows: tuple) -> PieceMemory:
    memory = PieceMemory()
    for row in rows:
        memory.add(row)
    return memory


def test_longest_earlier_stretch_and_what_followed_it() -> None:
    assert memory_of(A, B, C, A, B).match() == (2, [C])  # "A B" occurred before, followed by C
    assert memory_of(A, B, C, D, B).match() == (1, [C])  # only "B"
    assert memory_of(A, B, C).match() == (0, [])
    assert memory_of(A, B, A, C, A).match() == (1, [B, C])  # "A" was followed by B and by C


def test_runs_of_one_event_are_left_to_the_network() -> None:
    assert memory_of(A, A, A, B, A, A).match() == (0, [])
    assert memory_of(A, A, B, A).match() == (1, [A, B])


def test_a_repeated_chord_of_note_events_is_left_to_the_network() -> None:
    same_onset = 2  # offset index of the notes after a chord's first
    c, e, g, next_c = (10, 3, 4), (11, same_onset, 4), (12, same_onset, 4), (10, 3, 4)
    memory = PieceMemory(same_onset)
    for row in (c, e, g, next_c, e):
        memory.add(row)
    assert memory.match() == (2, [g])  # the second chord is still being built: the memory completes it
    memory.add(g)
    assert memory.match() == (0, [])  # two equal chords in a row: nothing is copied
    assert memory_of(c, e, g, next_c, e, g).match() == (3, [next_c])  # without `same_onset` every note is an onset


def test_copy_distribution_respects_tokens_already_chosen() -> None:
    followers = [(4, 2, 2), (4, 3, 2), (5, 3, 3)]
    np.testing.assert_allclose(copy_distribution(followers, (), 6), [0, 0, 0, 0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(copy_distribution(followers, (4,), 4), [0, 0, 0.5, 0.5])  # offsets after note 4
    np.testing.assert_allclose(copy_distribution(followers, (5, 3), 4), [0, 0, 0, 1])
    assert copy_distribution(followers, (6,), 4) is None
    # with the instrument first in the chain (column 3), the notes are those its followers play on it
    played = [(4, 2, 2, 2), (5, 3, 2, 3), (6, 3, 3, 3)]
    np.testing.assert_allclose(copy_distribution(played, (), 4, (3, 0, 1, 2)), [0, 0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(copy_distribution(played, (3,), 7, (3, 0, 1, 2)), [0, 0, 0, 0, 0, 0.5, 0.5])
    np.testing.assert_allclose(copy_distribution(played, (3, 6), 4, (3, 0, 1, 2)), [0, 0, 0, 1])


def test_weight_by_match_length() -> None:
    weights = [0.1, 0.2, 0.3, 0.4]
    assert [weight(weights, k) for k in (0, 1, 2, 3, 4, 7, 8, 16)] == [0.0, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4]
    assert len(weights) == len(BUCKETS)


def test_copy_probabilities_of_a_repeated_phrase() -> None:
    rows = np.array([(1, 1, 1), A, B, C, A, B, C])
    found = copy_probabilities(rows)
    assert [length for length, _ in found] == [0, 0, 0, 0, 1, 2]  # predicting rows 1..6
    np.testing.assert_allclose(found[-1][1], [1, 1, 1])  # "A B" was followed by C
    assert np.isnan(found[0][1]).all()


def test_fitted_weights_trust_the_copy_only_where_it_is_right() -> None:
    phrase = [(k, 2, 2) for k in range(2, 12)]
    rows = np.array([(1, 1, 1), *phrase, *phrase])  # the second half repeats the first
    events = len(rows) - 1
    network = [np.full((events, len(STREAMS)), 0.1)]
    weights = fit_weights([rows], network)
    assert weights["note"][BUCKETS.index(8)] == 0.99  # the copy is always right on the long matches
    wrong = np.array([(1, 1, 1), *phrase, *[(k + 20, 2, 2) for k, _, _ in phrase]])
    assert fit_weights([wrong], network)["note"] == [0.0, 0.0, 0.0, 0.0]  # never seen a repeat: no copying
    base = mixed_cross_entropy([rows], network, {s: [0.0] * 4 for s in STREAMS})
    assert abs(base["note"] - np.log(10)) < 1e-9
    assert mixed_cross_entropy([rows], network, weights)["note"] < base["note"] - 0.5


def test_mixing_into_the_heads() -> None:
    probs = np.full((2, 6), 1 / 6)
    matches = [(2, [(4, 2, 2), (5, 2, 2)]), (0, [])]
    mixed = ReferenceSampler.with_repeats(probs, matches, np.zeros((2, 0), dtype=int), [0.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(mixed[0], 0.5 / 6 + 0.5 * np.array([0, 0, 0, 0, 0.5, 0.5]))
    np.testing.assert_allclose(mixed[1], probs[1])  # no match: the network alone


def test_the_compiled_loops_memory_finds_what_piece_memory_finds() -> None:
    """`match_ops` and `remember_ops` against `PieceMemory` event by event, on a shipped piece of note
    events (its chords, `same_onset` offsets) beside one built to repeat its onsets and one that plays a
    phrase again and again, with each event as one key and, for vocabularies too large for that, as
    its whole row."""
    from collections import Counter

    from conftest import shipped

    from lstm_music.data.encoding import encode_piece
    from lstm_music.data.midi_io import read_piece
    from lstm_music.data.preparation import prepare
    from lstm_music.data.vocab import build_vocabularies, same_onset_index
    from lstm_music.model.repeats import match_ops, remember_ops, row_keys, start_memory_ops

    pieces = prepare([read_piece(shipped("bach_bwv10.7.mid"))], "note", False)
    vocabularies = build_vocabularies(pieces, 1, "note")
    same_onset = same_onset_index(vocabularies, "note")
    real = encode_piece(pieces[0], vocabularies)[:240]
    rng = np.random.default_rng(0)
    chords = [[(10, 3, 4), (11, same_onset, 4), (12, same_onset, 4)], [(10, 3, 4)], [(13, 5, 4), (14, same_onset, 4)]]
    built = [row for k in rng.integers(0, 3, size=len(real)) for row in chords[k]][: len(real) - 1]
    phrase = [tuple(row) for row in real[1:41]]  # a phrase of 40 events played three times: matches past 16
    rows = np.stack([real, [real[0], *built], [real[0], *(phrase * 6)[: len(real) - 1]]]).astype(np.int32)
    sizes = [len(vocabularies[s]) for s in STREAMS]
    repeats_seen, longest = 0, 0
    for key_sizes in (sizes, [2**11] * 3):  # 2**33 combinations: the rows are their own keys
        keys = row_keys(rows, key_sizes)
        assert keys.shape[-1] == (1 if key_sizes == sizes else 3)
        lengths, onsets = start_memory_ops(len(rows), rows.shape[1])
        memories = [PieceMemory(same_onset) for _ in rows]
        for memory, piece in zip(memories, rows, strict=True):
            memory.add(piece[0])
        for end in range(1, rows.shape[1]):
            length, after = match_ops(lengths, onsets, end)
            for b, memory in enumerate(memories):
                expected, followers = memory.match()
                repeats_seen += memory.repeating()
                assert int(length[b]) == expected, (key_sizes, b, end)
                longest = max(longest, expected)
                assert Counter(map(tuple, rows[b][np.asarray(after[b])].tolist())) == Counter(followers)
                memory.add(rows[b, end])
            lengths, onsets = remember_ops(keys, lengths, onsets, end, rows[:, end, 1] != same_onset)
    assert repeats_seen > 20  # the built piece repeats its onsets often: the rule that stops copying was tried
    assert longest == MAX_CONTEXT  # and the phrase is matched as far as the memory looks back
