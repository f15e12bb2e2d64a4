"""Incremental sampling: the LSTM states are carried from step to step, so each event costs one step.

Each head is sampled from its softmax after removing ``<unk>`` and ``<start>``, with temperature
(0 means argmax), top-k and top-p (nucleus) filtering; heads go in stream order (note, offset,
duration), and a model with conditioned heads is given the tokens already drawn for the event.
With the checkpoint's repeat weights, each piece's repeat memory (`repeats`) is mixed into every
head first. A generation starts from the ``<start>`` event, so it needs no primer; a primer's
events are fed first to condition the model (and are part of the piece's memory). The same
checkpoint, settings and seed give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .repeats import PieceMemory, copy_distribution, weight
from .vocab import SPECIALS, START_INDEX, STREAMS, given_key, input_key

# Plain sampling from the model (with its repeat memory): of the settings tried in the music
# report (docs/BENCHMARKS.md) the closest to real pieces; lower temperatures fall into loops.
DEFAULT_TEMPERATURE = 1.0


@dataclass
class SamplingSettings:
    """How each head turns probabilities into a choice; `repeat_weights` (from the checkpoint) mix in
    the piece's repeat memory (`repeats`), None samples the network alone."""

    temperature: dict[str, float] = field(default_factory=lambda: {s: DEFAULT_TEMPERATURE for s in STREAMS})
    top_k: int = 0
    top_p: float = 1.0
    repeat_weights: dict[str, list[float]] | None = None


def choose(probs: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """Pick one index per row of `probs` (batch, vocabulary); never a special token.

    Temperature 0 (or top-k 1) takes the most likely token; otherwise probabilities are raised to
    1/temperature, cut to the `top_k` most likely and to the smallest set whose mass reaches
    `top_p`, renormalised and sampled.
    """
    p = np.asarray(probs, dtype=np.float64).copy()
    p[:, : len(SPECIALS)] = 0.0
    if temperature == 0 or top_k == 1:
        return p.argmax(axis=1)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    order = np.argsort(-p, axis=1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=1)
    keep = np.ones_like(ranked, dtype=bool)
    if top_k > 0:
        keep[:, top_k:] = False
    if top_p < 1.0:
        mass = np.cumsum(ranked, axis=1) / ranked.sum(axis=1, keepdims=True)
        keep &= np.concatenate([np.ones((len(p), 1), bool), mass[:, :-1] < top_p], axis=1)
    ranked = np.where(keep, ranked, 0.0)
    ranked /= ranked.sum(axis=1, keepdims=True)
    draws = rng.random(len(p))[:, None]
    picks = (np.cumsum(ranked, axis=1) < draws).sum(axis=1)
    picks = np.minimum(picks, keep.sum(axis=1) - 1)
    return np.take_along_axis(order, picks[:, None], axis=1)[:, 0]


class Sampler:
    """Steps a trained model one event at a time for a batch of pieces."""

    def __init__(self, model, together: int | None = None) -> None:
        """`together`: the offset index of a chord's later notes, for the repeat memory (`repeats`)."""
        from .model import build_head_models, build_step_model, state_sizes  # Keras loads only when used

        self.together = together
        self.step_model = build_step_model(model)
        self.head_models = build_head_models(model)
        self.sizes = state_sizes(model)

    def start(self, batch: int) -> list[np.ndarray]:
        """Zero recurrent states for `batch` pieces."""
        return [np.zeros((batch, n), dtype=np.float32) for n in self.sizes]

    def step(
        self, rows: np.ndarray, states: list[np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray], np.ndarray]:
        """Feed one event per piece (`rows`: batch x 3 indices).

        Returns the next event's probabilities for the heads that need no given tokens, the new
        states, and the context that `head` needs for the others.
        """
        tokens = {input_key(s): rows[:, i : i + 1].astype(np.int32) for i, s in enumerate(STREAMS)}
        probs, states, context = self.step_model.predict_on_batch([tokens, states])
        return {s: np.asarray(p)[:, 0] for s, p in probs.items()}, [np.asarray(x) for x in states], context

    def head(self, stream: str, context: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Probabilities of a conditioned head, given the tokens `chosen` (batch x streams before it)."""
        given = {given_key(s): chosen[:, i : i + 1].astype(np.int32) for i, s in enumerate(STREAMS[: chosen.shape[1]])}
        return np.asarray(self.head_models[stream].predict_on_batch([context, given]))[:, 0]

    def generate(
        self,
        length: int,
        count: int = 1,
        settings: SamplingSettings | None = None,
        seed: int = 0,
        primer: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sample `count` pieces of `length` events together; return indices (count, length, 3).

        `primer` (events x 3 indices) is fed after ``<start>`` and before sampling begins.
        """
        settings = settings or SamplingSettings()
        rng = np.random.default_rng(seed)
        states = self.start(count)
        feed = np.full((count, len(STREAMS)), START_INDEX, dtype=np.int32)
        memories = [PieceMemory(self.together) for _ in range(count)]
        history = [feed[0], *(primer if primer is not None else [])]
        probs, states, context = self.step(feed, states)
        for row in history[1:]:
            probs, states, context = self.step(np.repeat(row[None, :], count, axis=0), states)
        for memory in memories:
            for row in history:
                memory.add(row)
        out = np.zeros((count, length, len(STREAMS)), dtype=np.int32)
        for t in range(length):
            matches = [memory.match() for memory in memories] if settings.repeat_weights else []
            for i, s in enumerate(STREAMS):
                p = probs[s] if s in probs else self.head(s, context, out[:, t, :i])
                if settings.repeat_weights:
                    p = self.with_repeats(p, matches, out[:, t, :i], settings.repeat_weights[s])
                out[:, t, i] = choose(p, settings.temperature[s], settings.top_k, settings.top_p, rng)
            for memory, row in zip(memories, out[:, t], strict=True):
                memory.add(row)
            if t + 1 < length:
                probs, states, context = self.step(out[:, t], states)
        return out

    @staticmethod
    def with_repeats(probs: np.ndarray, matches: list, chosen: np.ndarray, weights: list[float]) -> np.ndarray:
        """`probs` (batch x vocabulary) with each piece's repeat memory mixed in."""
        mixed = np.array(probs, dtype=np.float64)
        for b, (length, followers) in enumerate(matches):
            copy = copy_distribution(followers, tuple(int(x) for x in chosen[b]), mixed.shape[1])
            if copy is not None:
                w = weight(weights, length)
                mixed[b] = (1 - w) * mixed[b] + w * copy
        return mixed
