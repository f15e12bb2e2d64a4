"""Held-out scoring: the model's probability of every true next token of whole pieces, and per-head
accuracy and cross-entropy from them.

Training uses it to fit the repeat memory's weights on the validation pieces after each better
epoch, and `evaluate` to score held-out pieces; it needs the model and numpy, nothing of either's
command line.
"""

from __future__ import annotations

import numpy as np

from ..streams import PIECE_KEYS, model_inputs, streams_of


def target_probabilities(
    model,
    arrays: list[np.ndarray],
    budget: int = 2**24,
    styles: list[int] | None = None,
    span: int = 1024,
    positions: list[np.ndarray] | None = None,
) -> tuple[list, list]:
    """For each encoded piece (whole, from ``<start>``): the model's probability of every true next
    token (events x streams) and whether that token was the most likely one. A model with styles
    reads each piece's index in `styles` (default: 0, none), one with meter each row's place in its
    bar in `positions` (`encoding.encode_positions`; default: no meter known).

    Pieces go through the model in batches of similar length, `span` events at a time with the
    LSTMs' states carried from one stretch to the next (`model.build_segment_model`); a batch's
    stretch has at most 4,096 positions and its softmax outputs at most `budget` numbers, and only
    the true tokens' probabilities are kept: memory stays flat however many and however long the
    pieces are. A conditioned head is given the true tokens of the heads before it in the same event.
    """
    from .network import build_segment_model, input_names, state_sizes

    if not hasattr(model, "segment_model"):  # built once per model: each new model is traced again
        model.segment_model = build_segment_model(model)
    cells = max(1, min(2**12, budget // max(int(output.shape[-1]) for output in model.outputs)))
    probabilities: list = [None] * len(arrays)
    correct: list = [None] * len(arrays)
    chunks: list[list[int]] = [[]]
    for i in sorted(range(len(arrays)), key=lambda i: len(arrays[i])):
        if chunks[-1] and (len(chunks[-1]) + 1) * min(span, len(arrays[i])) > cells:
            chunks.append([])
        chunks[-1].append(i)
    for chunk in chunks:
        width = max(len(arrays[i]) for i in chunk) - 1
        block = np.zeros((len(chunk), width + 1, arrays[chunk[0]].shape[1]), dtype=np.int32)
        for row, i in enumerate(chunk):
            block[row, : len(arrays[i])] = arrays[i]
        chosen = None if styles is None else [styles[i] for i in chunk]
        places = None
        if positions is not None:
            places = np.zeros((len(chunk), width + 1, 3), dtype=np.int32)
            for row, i in enumerate(chunk):
                places[row, : len(arrays[i])] = positions[i]
        inputs = model_inputs(block, input_names(model), styles=chosen, positions=places)  # each piece its register
        probs, hits = _by_stretches(model.segment_model, inputs, block[:, 1:], state_sizes(model), span)
        for row, i in enumerate(chunk):
            probabilities[i], correct[i] = probs[row, : len(arrays[i]) - 1], hits[row, : len(arrays[i]) - 1]
    return probabilities, correct


def _by_stretches(segment_model, inputs: dict, targets: np.ndarray, sizes: list[int], span: int) -> tuple:
    """The probability of each of `targets` (batch, time, streams) given `inputs`, and whether it
    was the most likely token, computed `span` events at a time, each stretch starting from the
    LSTM states the one before it ended with."""
    rows, width, count = targets.shape
    states = [np.zeros((rows, size), dtype=np.float32) for size in sizes]
    probs = np.zeros((rows, width, count), dtype=np.float32)
    hits = np.zeros((rows, width, count), dtype=bool)
    for start in range(0, width, span):
        stretch = {k: v if k in PIECE_KEYS else v[:, start : start + span] for k, v in inputs.items()}
        heads, states = segment_model.predict_on_batch([stretch, states])
        target = targets[:, start : start + span]
        for j, stream in enumerate(streams_of(count)):
            head = np.asarray(heads[stream])
            probs[:, start : start + span, j] = np.take_along_axis(head, target[..., j : j + 1], axis=-1)[..., 0]
            hits[:, start : start + span, j] = head.argmax(axis=-1) == target[..., j]
    return probs, hits


def score_model(probabilities: list[np.ndarray], correct: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per-head accuracy and cross-entropy (nats per event) from `target_probabilities`."""
    probs, hits = np.concatenate(probabilities), np.concatenate(correct)
    nats = -np.log(np.maximum(probs, 1e-12))
    return {
        s: {"accuracy": float(hits[:, i].mean()), "cross_entropy": float(nats[:, i].mean())}
        for i, s in enumerate(streams_of(probs.shape[1]))
    }
