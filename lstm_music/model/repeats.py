"""Repeat memory: music repeats its own phrases, which an LSTM barely learns to do.

A cache model in the sense of Kuhn and De Mori (1990): at each step, find the longest stretch of
recent events (up to `MAX_CONTEXT`) that occurred earlier in the same piece, and predict what
followed it there. Its prediction is mixed into each head's softmax,
``p = (1 - w) * p_network + w * p_copy``, with a weight `w` per head and per length of the matched
stretch (`BUCKETS`): a long match is strong evidence that a passage repeats. The weights are fitted
on the validation pieces after training (`fit_weights`, lowest cross-entropy) and stored in the
checkpoint, so each data set gets the amount of repetition its own music has. Heads that are
conditioned within an event copy only from earlier events whose already chosen tokens agree. The
heads go in the model's chain `order` (column indices; by default the columns' own order).

Runs are left to the network: while the last two onsets sound the same (the same note, or with
note-level events the same chord: the events at one onset are those after the first whose offset
is the `same_onset` index, the token ``"0"``), nothing is matched, so copying cannot feed a loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..streams import streams_of

MAX_CONTEXT = 16  # longest stretch of events matched
BUCKETS = (1, 2, 4, 8)  # a match of k events uses the weight of the last bucket start <= k
GRID = np.linspace(0.0, 0.99, 100)  # candidate weights tried by `fit_weights`


class PieceMemory:
    """The events of one piece so far (rows of token indices), indexed by every recent stretch.

    `same_onset` is the offset index of an event that starts with the one before it (None: every
    event is an onset of its own).
    """

    def __init__(self, same_onset: int | None = None) -> None:
        self.rows: list[tuple[int, ...]] = []
        # Every stretch seen is a small integer, read from its last event backwards: the stretch of k
        # events is (the stretch of its last k - 1, the event before them). Equal stretches get the
        # same number, so a lookup costs a pair, not a tuple of k events.
        self.ids: list[int] = []  # each row's number; equal rows, equal numbers
        self.row_ids: dict[tuple[int, ...], int] = {}
        self.stretches: dict[tuple[int, int], int] = {}  # (a stretch, the row before it) -> the longer stretch
        self.followers: dict[int, list[int]] = defaultdict(list)  # a stretch -> the indices of the rows after it
        self.same_onset = same_onset
        self.onsets: list[int] = []  # row index of the first event at each onset

    def add(self, row: Sequence[int]) -> None:
        """Append one event; record it as the follower of each stretch of up to `MAX_CONTEXT` events before it."""
        t = len(self.rows)
        self.rows.append(tuple(row.tolist() if isinstance(row, np.ndarray) else map(int, row)))
        self.ids.append(self.row_ids.setdefault(self.rows[t], len(self.row_ids)))
        if not self.onsets or self.rows[t][1] != self.same_onset:
            self.onsets.append(t)
        ids, stretches, followers = self.ids, self.stretches, self.followers
        stretch = -1  # the empty stretch
        for k in range(1, min(MAX_CONTEXT, t) + 1):
            stretch = stretches.setdefault((stretch, ids[t - k]), len(stretches))
            followers[stretch].append(t)

    def repeating(self) -> bool:
        """Whether the last two onsets sound the same events (the last one may still be growing)."""
        if len(self.onsets) < 2:
            return False
        before, last = self.onsets[-2], self.onsets[-1]
        return self.rows[before:last] == self.rows[last:]

    def match(self) -> tuple[int, list[tuple[int, ...]]]:
        """The length of the longest stretch ending now that occurred before, and the events that followed it.

        Nothing is matched while the last two onsets are the same: copying a run feeds on itself
        (each repetition makes the next more likely), which is the one-note loop; how long a run
        lasts is left to the network.
        """
        t = len(self.rows)
        length, found = 0, []
        if self.repeating():
            return length, found
        stretch: int | None = -1
        for k in range(1, min(MAX_CONTEXT, t) + 1):
            stretch = self.stretches.get((stretch, self.ids[t - k]))
            if stretch is None:
                break  # a longer stretch cannot occur if this one does not
            length, found = k, self.followers[stretch]
        return length, [self.rows[j] for j in found]


def row_keys(rows: np.ndarray | object, sizes: Sequence[int]):
    """One whole number per event of `rows` (..., streams) where the vocabulary `sizes` allow it
    (their product below 2**31), else the rows as they are: (..., 1) or (..., streams), so that two
    events are equal exactly when all their keys are. Works on numpy arrays and `keras.ops` tensors."""
    if np.prod(sizes, dtype=np.float64) >= 2**31:
        return rows
    radix = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int32)  # mixed radix: the last stream varies fastest
    if isinstance(rows, np.ndarray):
        return (rows * radix).sum(-1, keepdims=True)
    from keras import ops

    return ops.sum(rows * radix, axis=-1, keepdims=True)


def start_memory_ops(batch: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """The state of `match_ops` and `remember_ops` for `batch` pieces whose first row is in place:
    every suffix length 0 (batch, capacity), and the onsets (batch, 4): the onset before the last,
    the last onset, the number of onsets, and whether the events since the last onset equal the
    first ones of the onset before it; row 0 is the first onset."""
    return np.zeros((batch, capacity), dtype=np.int32), np.tile(np.array([[0, 0, 1, 0]], dtype=np.int32), (batch, 1))


def match_ops(lengths, onsets, end):
    """`PieceMemory.match` for a batch in `keras.ops`, for the compiled generation loop, after `end`
    events of each piece: `lengths` (batch, capacity) hold, for each earlier position j, how many
    events before j equal the last ones before `end` (at most `MAX_CONTEXT`; `remember_ops` keeps
    them and `onsets`). Returns the match length per piece (batch,) and which positions follow the
    longest match (batch, capacity): the rows `match` returns, each once per occurrence."""
    from keras import ops

    found = ops.where(ops.expand_dims(ops.arange(ops.shape(lengths)[1], dtype="int32") < end, 0), lengths, 0)
    before, last, count, alike = (onsets[:, i] for i in range(4))
    repeating = ops.logical_and(ops.logical_and(count >= 2, alike > 0), ops.equal(end - last, last - before))
    length = ops.where(repeating, 0, ops.max(found, axis=1))
    longest = ops.expand_dims(length, -1)
    return length, ops.logical_and(ops.equal(found, longest), longest > 0)


def remember_ops(keys, lengths, onsets, end, onset):
    """`PieceMemory.add` for a batch in `keras.ops`: the event at position `end`, whose `row_keys` are
    already written into `keys` (batch, capacity, k), has just been added, and `onset` (batch,) says
    whether it starts an onset of its own. Returns `lengths` and `onsets` (`match_ops`) for the events
    up to and including it: a position j's length grows by one where the event before j equals the
    new one, else drops to 0; whether the last onset repeats the one before grows one event at a time."""
    from keras import ops

    key = ops.take(keys, end, axis=1)  # (batch, k)
    same = ops.all(ops.equal(keys, ops.expand_dims(key, 1)), axis=-1)  # position j holds the new event
    follows = ops.concatenate([ops.zeros_like(same[:, :1]), same[:, :-1]], axis=1)  # the event before j does
    grown = ops.minimum(ops.concatenate([ops.zeros_like(lengths[:, :1]), lengths[:, :-1]], axis=1) + 1, MAX_CONTEXT)
    up_to = ops.expand_dims(ops.arange(ops.shape(keys)[1], dtype="int32") <= end, 0)
    lengths = ops.where(ops.logical_and(follows, up_to), grown, 0)
    before, last, count, alike = (onsets[:, i] for i in range(4))
    along = end - last  # the new event's place after the last onset, when it starts none
    compared = ops.where(onset, last, before + ops.minimum(along, last - before))  # the event it must equal
    equal = ops.take_along_axis(same, ops.expand_dims(compared, -1), axis=1)[:, 0]
    still = ops.logical_and(ops.logical_and(alike > 0, along < last - before), equal)
    return lengths, ops.stack(
        [
            ops.where(onset, last, before),
            ops.where(onset, end, last),
            count + ops.cast(onset, "int32"),
            ops.cast(ops.where(onset, equal, still), "int32"),
        ],
        axis=-1,
    )


def agreeing(
    followers: list[tuple[int, ...]], chosen: tuple[int, ...], order: Sequence[int] | None = None
) -> list[int]:
    """The followers' tokens of the next stream in the chain `order` (column indices; default: the
    columns in turn), from those whose streams before it in the chain equal `chosen`."""
    if order is None:  # the columns in turn: compare a prefix
        stream = len(chosen)
        return [row[stream] for row in followers if row[:stream] == chosen]
    earlier, stream = order[: len(chosen)], order[len(chosen)]
    return [row[stream] for row in followers if tuple(row[j] for j in earlier) == chosen]


def bucket(lengths: int | np.ndarray) -> np.ndarray:
    """The index into `BUCKETS` of each match length (-1 for no match)."""
    return np.searchsorted(BUCKETS, lengths, side="right") - 1


def weight(weights: list[float], length: int) -> float:
    """The mixing weight for a match of `length` events (0 without a match)."""
    return 0.0 if length == 0 else weights[int(bucket(length))]


def copy_probabilities(
    rows: np.ndarray, same_onset: int | None = None, order: Sequence[int] | None = None
) -> list[tuple[int, np.ndarray]]:
    """For each event after the first of an encoded piece: (match length, the copy model's probability
    of the true token per stream, NaN where it has no prediction), the heads in chain `order`."""
    memory = PieceMemory(same_onset)
    memory.add(rows[0])
    chain = tuple(order or range(rows.shape[1]))
    order = None if chain == tuple(range(len(chain))) else chain  # `agreeing` compares prefixes for the plain order
    out = []
    for row in rows[1:]:
        target = tuple(int(x) for x in row)
        length, followers = memory.match()
        probs = np.full(len(target), np.nan)
        for k, i in enumerate(chain):
            tokens = agreeing(followers, tuple(target[j] for j in chain[:k]), order)
            if tokens:
                probs[i] = tokens.count(target[i]) / len(tokens)
        out.append((length, probs))
        memory.add(row)
    return out


def _pooled(
    arrays: list[np.ndarray], network: list[np.ndarray], same_onset: int | None, order: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match lengths, copy probabilities and network probabilities of every true target, concatenated."""
    lengths, copies = [], []
    for rows in arrays:  # one piece's pairs at a time, so that no list holds an array per event
        pairs = copy_probabilities(rows, same_onset, order)
        lengths.append(np.array([length for length, _ in pairs], dtype=int))
        copies.append(np.array([probs for _, probs in pairs]).reshape(-1, rows.shape[1]))
    return np.concatenate(lengths), np.concatenate(copies), np.concatenate(network)


def fit_weights(
    arrays: list[np.ndarray],
    network: list[np.ndarray],
    same_onset: int | None = None,
    order: Sequence[int] | None = None,
) -> dict[str, list[float]]:
    """Per head and match-length bucket, the weight (from `GRID`) with the lowest cross-entropy.

    `arrays` are encoded pieces the network did not train on; `network[i]` holds the network's
    probability of each true target of piece i (events x streams).
    """
    lengths, copies, net = _pooled(arrays, network, same_onset, order)
    buckets = bucket(lengths)
    weights = {}
    for i, s in enumerate(streams_of(net.shape[1])):
        chosen = []
        for b in range(len(BUCKETS)):
            rows = (buckets == b) & ~np.isnan(copies[:, i])
            if not rows.any():
                chosen.append(0.0)
                continue
            network, copied = net[rows, i], copies[rows, i]  # one weight at a time: memory of one column
            nats = [-np.log(np.maximum((1 - g) * network + g * copied, 1e-12)).sum() for g in GRID]
            chosen.append(round(float(GRID[int(np.argmin(nats))]), 2))
        weights[s] = chosen
    return weights


def mixed_cross_entropy(
    arrays: list[np.ndarray],
    network: list[np.ndarray],
    weights: dict[str, list[float]],
    same_onset: int | None = None,
    order: Sequence[int] | None = None,
) -> dict[str, float]:
    """Cross-entropy (nats per event) of each head with the repeat memory mixed in at `weights`."""
    lengths, copies, net = _pooled(arrays, network, same_onset, order)
    buckets = bucket(lengths)
    out = {}
    for i, s in enumerate(streams_of(net.shape[1])):
        w = np.append(weights[s], 0.0)[buckets]  # bucket -1 (no match) takes the appended 0
        w = np.where(np.isnan(copies[:, i]), 0.0, w)
        mixed = (1 - w) * net[:, i] + w * np.nan_to_num(copies[:, i])
        out[s] = float(-np.log(np.maximum(mixed, 1e-12)).mean())
    return out
