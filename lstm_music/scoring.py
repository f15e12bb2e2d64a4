"""Held-out scoring: the model's probability of every true next token of whole pieces, and per-head
accuracy and cross-entropy from them.

Training uses it to fit the repeat memory's weights on the validation pieces after each better
epoch, and `evaluate` to score held-out pieces; it needs the model and numpy, nothing of either's
command line.
"""

from __future__ import annotations

import numpy as np

from .streams import model_inputs, streams_of


def target_probabilities(
    model, arrays: list[np.ndarray], budget: int = 2**24, styles: list[int] | None = None
) -> tuple[list, list]:
    """For each encoded piece (whole, from ``<start>``): the model's probability of every true next
    token (events x streams) and whether that token was the most likely one. A model with styles
    reads each piece's index in `styles` (default: 0, none).

    Pieces go through the model in batches of similar length whose largest softmax output holds at
    most `budget` numbers, so memory stays flat however long the pieces are. A conditioned head is
    given the true tokens of the heads before it in the same event.
    """
    from .model import input_names

    positions = max(1, budget // max(int(output.shape[-1]) for output in model.outputs))
    probabilities: list = [None] * len(arrays)
    correct: list = [None] * len(arrays)
    chunks: list[list[int]] = [[]]
    for i in sorted(range(len(arrays)), key=lambda i: len(arrays[i])):
        if chunks[-1] and (len(chunks[-1]) + 1) * len(arrays[i]) > positions:
            chunks.append([])
        chunks[-1].append(i)
    for chunk in chunks:
        width = max(len(arrays[i]) for i in chunk) - 1
        streams = streams_of(arrays[chunk[0]].shape[1])
        block = np.zeros((len(chunk), width + 1, len(streams)), dtype=np.int32)
        for row, i in enumerate(chunk):
            block[row, : len(arrays[i])] = arrays[i]
        chosen = None if styles is None else [styles[i] for i in chunk]
        inputs = model_inputs(block, input_names(model), styles=chosen)  # each piece its own register
        probs = model.predict_on_batch(inputs)
        for row, i in enumerate(chunk):
            events = len(arrays[i]) - 1
            target = arrays[i][1:]
            heads = [np.asarray(probs[s])[row, :events] for s in streams]
            chosen = [np.take_along_axis(p, target[:, j : j + 1], axis=-1)[:, 0] for j, p in enumerate(heads)]
            probabilities[i] = np.stack(chosen, axis=1)
            correct[i] = np.stack([p.argmax(axis=-1) == target[:, j] for j, p in enumerate(heads)], axis=1)
    return probabilities, correct


def score_model(probabilities: list[np.ndarray], correct: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per-head accuracy and cross-entropy (nats per event) from `target_probabilities`."""
    probs, hits = np.concatenate(probabilities), np.concatenate(correct)
    nats = -np.log(np.maximum(probs, 1e-12))
    return {
        s: {"accuracy": float(hits[:, i].mean()), "cross_entropy": float(nats[:, i].mean())}
        for i, s in enumerate(streams_of(probs.shape[1]))
    }
