"""Incremental sampling: the LSTM states are carried from step to step, so each event costs one step.

Each head is sampled on its own from its softmax after removing ``<unk>`` and ``<start>``, with
temperature (0 means argmax), top-k and top-p (nucleus) filtering. A generation starts from the
``<start>`` event, so it needs no primer; a primer's events are fed first to condition the model.
The same checkpoint, settings and seed give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocab import SPECIALS, START_INDEX, STREAMS, input_key

# Chosen from the music report (docs/BENCHMARKS.md): closest to real pieces of the settings tried.
DEFAULT_TEMPERATURE = 0.9


@dataclass
class SamplingSettings:
    """How each head turns probabilities into a choice."""

    temperature: dict[str, float] = field(default_factory=lambda: {s: DEFAULT_TEMPERATURE for s in STREAMS})
    top_k: int = 0
    top_p: float = 1.0


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

    def __init__(self, model) -> None:
        from .model import build_step_model, state_sizes  # Keras loads only when a model is used

        self.step_model = build_step_model(model)
        self.sizes = state_sizes(model)

    def start(self, batch: int) -> list[np.ndarray]:
        """Zero recurrent states for `batch` pieces."""
        return [np.zeros((batch, n), dtype=np.float32) for n in self.sizes]

    def step(self, rows: np.ndarray, states: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """Feed one event per piece (`rows`: batch x 3 indices); return next-event probabilities and states."""
        tokens = {input_key(s): rows[:, i : i + 1].astype(np.int32) for i, s in enumerate(STREAMS)}
        probs, states = self.step_model.predict_on_batch([tokens, states])
        return {s: np.asarray(probs[s])[:, 0] for s in STREAMS}, [np.asarray(x) for x in states]

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
        probs, states = self.step(feed, states)
        for row in primer if primer is not None else []:
            probs, states = self.step(np.repeat(row[None, :], count, axis=0), states)
        out = np.zeros((count, length, len(STREAMS)), dtype=np.int32)
        for t in range(length):
            for i, s in enumerate(STREAMS):
                out[:, t, i] = choose(probs[s], settings.temperature[s], settings.top_k, settings.top_p, rng)
            if t + 1 < length:
                probs, states = self.step(out[:, t], states)
        return out
