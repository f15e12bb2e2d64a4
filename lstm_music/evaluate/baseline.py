"""A count-based n-gram baseline per stream, the yardstick the LSTM must beat on held-out pieces.

Each stream (note, offset, duration, and instrument where there is one) gets its own model of order
3 (the next token given the two before it) with interpolated Witten-Bell smoothing down to a
uniform distribution over the vocabulary, so every token, ``<unk>`` included, has non-zero
probability. It is fitted on the checkpoint's encoded training split and scored on the same index
sequences as the network.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from ..data.encoding import split_encoded
from ..streams import streams_of


class NGram:
    """Interpolated Witten-Bell n-gram model over token indices ``0..vocab_size-1``."""

    def __init__(self, vocab_size: int, order: int = 3) -> None:
        self.vocab_size = vocab_size
        self.order = order
        # counts[k][context of length k] -> Counter of next tokens
        self.counts: list[dict[tuple[int, ...], Counter]] = [defaultdict(Counter) for _ in range(order)]

    def fit(self, sequences: list[np.ndarray]) -> NGram:
        """Count every n-gram (orders 1..`order`) in `sequences`, each starting with ``<start>``."""
        for sequence in sequences:
            tokens = [int(t) for t in sequence]
            for t in range(1, len(tokens)):
                for k in range(self.order):
                    if t - k < 0:
                        break
                    self.counts[k][tuple(tokens[t - k : t])][tokens[t]] += 1
        return self

    def distribution(self, history: list[int]) -> np.ndarray:
        """P(next token | last `order - 1` tokens of `history`) over the whole vocabulary."""
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(self.order):
            if k > len(history):
                break
            seen = self.counts[k].get(tuple(history[len(history) - k :]))
            if not seen:
                break
            total, types = sum(seen.values()), len(seen)
            counts = np.zeros(self.vocab_size)
            counts[list(seen)] = list(seen.values())
            p = (counts + types * p) / (total + types)
        return p


def fit_baselines(train_rows: np.ndarray, vocab_sizes: dict[str, int], order: int = 3) -> dict[str, NGram]:
    """One n-gram model per stream from encoded training rows (pieces begin with a ``<start>`` row)."""
    pieces = split_encoded(train_rows)
    return {
        s: NGram(vocab_sizes[s], order).fit([p[:, i] for p in pieces]) for i, s in enumerate(streams_of(vocab_sizes))
    }


def score_baseline(model: NGram, sequence: np.ndarray) -> tuple[float, int, int]:
    """Summed cross-entropy (nats), correct argmax guesses and targets over `sequence[1:]`."""
    tokens = [int(t) for t in sequence]
    nats, correct = 0.0, 0
    for t in range(1, len(tokens)):
        p = model.distribution(tokens[max(0, t - model.order + 1) : t])
        nats -= float(np.log(p[tokens[t]]))
        correct += int(p.argmax() == tokens[t])
    return nats, correct, len(tokens) - 1
