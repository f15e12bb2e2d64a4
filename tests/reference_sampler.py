"""The sampler's reference in numpy: the oracle the compiled loop of `lstm_music.sampling` is held to.

`ReferenceSampler` draws event by event, with a Keras call per head (`build_step_model`,
`build_head_models`, sharing the trained model's weights) and the choice (`choose`), the pitch
window (`in_window`), the repeat memory (`repeats.PieceMemory`, `copy_distribution`) and the bar
clock (`clock_positions`) in numpy.
It takes the same random numbers as `Sampler`, in the same order, so the two draw the same events
from the same checkpoint and seed; `make bench` times the two side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import keras
import numpy as np

from lstm_music.data.meter import BEATS, GRID, OFF_GRID, STEPS
from lstm_music.generate.sampling import Sampler, SamplingSettings
from lstm_music.model.network import piece_inputs, position_input
from lstm_music.model.repeats import PieceMemory, agreeing, weight
from lstm_music.streams import POSITION_KEY, REGISTER_KEY, SPECIALS, STYLE_KEY, given_key, input_key


def clock_positions(times: np.ndarray, pieces: np.ndarray, resolution: int) -> np.ndarray:
    """`meter.positions` in generation's terms: (time signature index, beat, step), (batch, 3), of starts at
    `times` (batch,) ticks of 1/`resolution` quarter after a bar line, for pieces whose time
    signature index, ticks per bar and ticks per beat are `pieces` (batch, 3). `resolution` is a
    multiple of `GRID`."""
    in_bar = np.mod(times, pieces[:, 1])
    in_beat = in_bar % pieces[:, 2]
    unit = resolution // GRID
    step = np.where(in_beat % unit == 0, np.minimum(in_beat // unit, STEPS - 1), OFF_GRID)
    return np.stack([pieces[:, 0], np.minimum(in_bar // pieces[:, 2], BEATS - 1), step], axis=-1).astype(np.int32)


def build_step_model(model: keras.Model) -> keras.Model:
    """A model sharing `model`'s weights that advances one event: (tokens, states) -> (probs, states, context).

    Inputs are one (batch, 1) index tensor per stream (and the (batch, 2) register of a model conditioned on
    it) and the (h, c) pair of every LSTM in `_Layers.recurrent` order; outputs are the (batch, 1,
    vocab) softmaxes of the heads that need no given tokens, the new states, and the (batch, 1,
    dense) context for `build_head_models`.
    """
    parts = model.music_layers
    inputs = {input_key(s): keras.Input(shape=(1,), dtype="int32", name=input_key(s)) for s in parts.streams}
    inputs |= piece_inputs(parts) | position_input(parts.position is not None, (1, 3))
    states = []
    for i, lstm in enumerate(parts.recurrent()):
        states += [keras.Input(shape=(lstm.units,), name=f"state_{i}_{k}") for k in "hc"]
    context, final = parts.trunk_context(inputs, states)
    outputs = {s: parts.head(s, context, {}) for s in parts.streams if not parts.givens(s)}
    return keras.Model(inputs=[inputs, states], outputs=[outputs, final, context], name="lstm_music_step")


def build_head_models(model: keras.Model) -> dict[str, keras.Model]:
    """For each conditioned head, a model sharing `model`'s weights: (context, given tokens) -> probs."""
    parts = model.music_layers
    heads = {}
    for s in parts.streams:
        if parts.givens(s):
            context = keras.Input(shape=(1, parts.dense.units), name="context")
            given = {given_key(g): keras.Input(shape=(1,), dtype="int32", name=given_key(g)) for g in parts.givens(s)}
            probs = parts.head(s, context, {g: given[given_key(g)] for g in parts.givens(s)})
            heads[s] = keras.Model([context, given], probs, name=f"{s}_step")
    return heads


def copy_distribution(
    followers: list[tuple[int, ...]], chosen: tuple[int, ...], size: int, order: Sequence[int] | None = None
) -> np.ndarray | None:
    """What the followers say about the next token of the stream after `chosen` in the chain `order`,
    among those that agree with the tokens `chosen` for the streams before it; None when none agree."""
    tokens = agreeing(followers, chosen, order)
    if not tokens:
        return None
    return np.bincount(tokens, minlength=size)[:size] / len(tokens)


def in_window(probs: np.ndarray, registers: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """`probs` (batch, pitch vocabulary) with the pitches outside each piece's register (batch, 2)
    widened by `window` (below, above) set to 0; a row with no mass left inside stays as it was."""
    pitches = np.arange(probs.shape[1]) - len(SPECIALS)
    inside = (pitches >= registers[:, :1] - window[0]) & (pitches <= registers[:, 1:] + window[1])
    kept = np.where(inside, probs, 0.0)
    return np.where(kept.sum(axis=1, keepdims=True) > 0, kept, probs)


def choose(probs: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """Pick one index per row of `probs` (batch, vocabulary); never a special token.

    Temperature 0 (or top-k 1) takes the most likely token; otherwise probabilities are raised to
    1/temperature, cut to the `top_k` most likely and to the smallest set whose mass reaches
    `top_p`, renormalised and sampled: by rank when cut, else in the vocabulary's order (the same
    distribution without a sort).
    """
    p = np.asarray(probs, dtype=np.float64).copy()
    p[:, : len(SPECIALS)] = 0.0
    if temperature == 0 or top_k == 1:
        return np.maximum(p.argmax(axis=1), len(SPECIALS))
    with np.errstate(divide="ignore", invalid="ignore"):  # a row without mass: NaN, and a token drawn all the same
        return _drawn(p, temperature, top_k, top_p, rng)


def _drawn(p: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """`choose`'s draw from `p`, the specials already taken out."""
    if temperature != 1:
        logits = np.log(p) / temperature
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
    order = None
    if top_k > 0 or top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        p = np.take_along_axis(p, order, axis=1)
        keep = np.arange(p.shape[1]) < (top_k or p.shape[1])
        if top_p < 1.0:
            mass = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
            keep = keep & np.concatenate([np.ones((len(p), 1), bool), mass[:, :-1] < top_p], axis=1)
        p = np.where(keep, p, 0.0)
    p /= p.sum(axis=1, keepdims=True)
    draws = rng.random(len(p))[:, None]
    picks = (np.cumsum(p, axis=1) <= draws).sum(axis=1)  # the first token whose cumulative mass passes the draw
    # a draw past the rounded total mass takes the last token that can be drawn
    picks = np.minimum(picks, np.where(p > 0, np.arange(p.shape[1]), 0).max(axis=1))
    picks = picks if order is None else np.take_along_axis(order, picks[:, None], axis=1)[:, 0]
    return np.maximum(picks, len(SPECIALS))  # a row with no mass at all still never gives a special token


class ReferenceSampler(Sampler):
    """`Sampler` with the loop in numpy, a Keras call per head."""

    def __init__(self, model, same_onset: int | None = None) -> None:
        super().__init__(model, same_onset)
        self.repeat_order = None if self.order == tuple(range(len(self.order))) else self.order  # `repeats.agreeing`

    @cached_property
    def step_model(self):
        """`build_step_model` of the model (built on first use)."""
        return build_step_model(self.model)

    @cached_property
    def head_models(self) -> dict:
        """`build_head_models` of the model (built on first use)."""
        return build_head_models(self.model)

    def step(
        self, rows: np.ndarray, states: list[np.ndarray], times: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray], np.ndarray]:
        """Feed one event per piece (`rows`: batch x streams indices), starting at `times` (batch,
        ticks from a bar line: read by a model that reads meter).

        Returns the next event's probabilities for the heads that need no given tokens, the new
        states, and the context that `head` needs for the others.
        """
        tokens = {input_key(s): rows[:, i : i + 1].astype(np.int32) for i, s in enumerate(self.streams)}
        if self.wants_register:
            tokens[REGISTER_KEY] = self.registers
        if self.wants_style:
            tokens[STYLE_KEY] = self.styles
        if self.wants_position:
            times = np.zeros(len(rows), dtype=np.int64) if times is None else times  # default: on a bar line
            tokens[POSITION_KEY] = clock_positions(times, self.bars.pieces, self.bars.resolution)[:, None]
        probs, states, context = self.step_model.predict_on_batch([tokens, states])
        return {s: np.asarray(p)[:, 0] for s, p in probs.items()}, [np.asarray(x) for x in states], context

    def head(self, stream: str, context: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Probabilities of a conditioned head, given the tokens `chosen` (batch x streams; those of the
        streams before it in the chain are read)."""
        given = {}
        for g in self.model.music_layers.givens(stream):
            column = self.streams.index(g)
            given[given_key(g)] = chosen[:, column : column + 1].astype(np.int32)
        return np.asarray(self.head_models[stream].predict_on_batch([context, given]))[:, 0]

    def run(
        self, length: int, settings: SamplingSettings, rng: np.random.Generator, history: np.ndarray, states: list, bar
    ) -> np.ndarray:
        """`Sampler.run` event by event: a Keras call per head, the rest in numpy."""
        count = len(states[0])
        times = self.given_times(len(history))
        memories = [PieceMemory(self.same_onset) for _ in range(count)]
        for row, time in zip(history[:-1], times[:-1], strict=True):  # fed, not drawn
            states = self.step(np.repeat(row[None, :], count, axis=0), states, np.full(count, time))[1]
        for memory in memories:
            for row in history:
                memory.add(row)
        out = np.zeros((count, length, len(self.streams)), dtype=np.int32)
        previous = np.repeat(history[-1][None, :], count, axis=0)
        now = np.full(count, times[-1], dtype=np.int64)
        for t in range(length):
            matches = [memory.match() for memory in memories] if settings.repeat_weights else []
            out[:, t], states = self.event(previous, states, matches, settings, rng, now)
            for memory, row in zip(memories, out[:, t], strict=True):
                memory.add(row)
            previous = out[:, t]
            if self.bars is not None:
                now = now + self.bars.offset_ticks[previous[:, 1]]
            bar.update()
        return out

    def event(
        self,
        previous: np.ndarray,
        states: list,
        matches: list,
        settings: SamplingSettings,
        rng: np.random.Generator,
        times: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list]:
        """Feed the `previous` events (starting at `times`) and draw the next ones head by head, in numpy."""
        probs, states, context = self.step(previous, states, times)
        chosen = np.zeros((len(previous), len(self.streams)), dtype=np.int32)
        for k, i in enumerate(self.order):
            s = self.streams[i]
            p = probs[s] if s in probs else self.head(s, context, chosen)
            if settings.repeat_weights:
                earlier = chosen[:, list(self.order[:k])]
                p = self.with_repeats(p, matches, earlier, settings.repeat_weights[s], self.repeat_order)
            if settings.pitch_window and s == "note":
                p = in_window(p, self.registers, settings.pitch_window)
            chosen[:, i] = choose(p, settings.temperature[s], settings.top_k, settings.top_p, rng)
        return chosen, states

    @staticmethod
    def with_repeats(
        probs: np.ndarray, matches: list, chosen: np.ndarray, weights: list[float], order: tuple | None = None
    ) -> np.ndarray:
        """`probs` (batch x vocabulary) with each piece's repeat memory mixed in; `chosen` holds the
        tokens of the streams before it in the chain `order`."""
        mixed = np.array(probs, dtype=np.float64)
        for b, (length, followers) in enumerate(matches):
            copy = copy_distribution(followers, tuple(int(x) for x in chosen[b]), mixed.shape[1], order)
            if copy is not None:
                w = weight(weights, length)
                mixed[b] = (1 - w) * mixed[b] + w * copy
        return mixed
