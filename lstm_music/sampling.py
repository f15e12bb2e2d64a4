"""Incremental sampling: the LSTM states are carried from step to step, so each event costs one step.

Each head is sampled from its softmax after removing ``<unk>`` and ``<start>``, with temperature (0
means argmax), top-k and top-p (nucleus) filtering; heads go in stream order (note, offset,
duration, and instrument in a model of several instruments), and a model with conditioned heads is
given the tokens already drawn for the event. With the checkpoint's repeat weights, each piece's
repeat memory (`repeats`) is mixed into every head first. A generation starts from the ``<start>``
event, so it needs no primer; a primer's events are fed first to condition the model (and are part
of the piece's memory). The same checkpoint, settings and seed give the same events.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .repeats import PieceMemory, copy_distribution, weight
from .streams import ALL_STREAMS, REGISTER_KEY, SPECIALS, START_INDEX, STYLE_KEY, given_key, input_key, piece_register

# Plain sampling from the model (with its repeat memory): of the settings tried in the music
# report (docs/BENCHMARKS.md) the closest to real pieces; lower temperatures fall into loops.
DEFAULT_TEMPERATURE = 1.0  # the one default of generate_music.py and evaluate: plain sampling (docs/BENCHMARKS.md)


@dataclass
class SamplingSettings:
    """How each head turns probabilities into a choice; `repeat_weights` (from the checkpoint) mix in
    the piece's repeat memory (`repeats`), None samples the network alone. `pitch_window` (semitones
    below and above, from the checkpoint: `streams.register_margins`) keeps a note-event model's
    notes within each piece's register widened by that much; None: any pitch."""

    temperature: dict[str, float] = field(default_factory=lambda: {s: DEFAULT_TEMPERATURE for s in ALL_STREAMS})
    top_k: int = 0
    top_p: float = 1.0
    repeat_weights: dict[str, list[float]] | None = None
    pitch_window: tuple[float, float] | None = None


def in_window(probs: np.ndarray, registers: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """`probs` (batch, pitch vocabulary) with the pitches outside each piece's register (batch, 2)
    widened by `window` (below, above) set to 0; a row with no mass left inside stays as it was."""
    pitches = np.arange(probs.shape[1]) - len(SPECIALS)
    inside = (pitches >= registers[:, :1] - window[0]) & (pitches <= registers[:, 1:] + window[1])
    kept = np.where(inside, probs, 0.0)
    return np.where(kept.sum(axis=1, keepdims=True) > 0, kept, probs)


def in_window_ops(probs, registers, window: tuple[float, float]):
    """`in_window` in `keras.ops`, for the compiled event step."""
    from keras import ops

    pitches = ops.cast(ops.arange(probs.shape[-1]) - len(SPECIALS), "float32")
    low, high = registers[:, :1] - window[0], registers[:, 1:] + window[1]
    kept = ops.where(ops.logical_and(ops.greater_equal(pitches, low), ops.less_equal(pitches, high)), probs, 0.0)
    return ops.where(ops.sum(kept, axis=-1, keepdims=True) > 0, kept, probs)


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
        return p.argmax(axis=1)
    if temperature != 1:
        with np.errstate(divide="ignore"):
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
    picks = (np.cumsum(p, axis=1) < draws).sum(axis=1)
    # a draw past the rounded total mass takes the last token that can be drawn
    picks = np.minimum(picks, np.where(p > 0, np.arange(p.shape[1]), 0).max(axis=1))
    return picks if order is None else np.take_along_axis(order, picks[:, None], axis=1)[:, 0]


def choose_ops(probs, temperature: float, top_k: int, top_p: float, uniform):
    """`choose` in `keras.ops`, for the compiled event step: one index per row of `probs` (batch,
    vocabulary), the draw given by `uniform` (batch,), the numbers `choose` takes from its generator."""
    from keras import ops

    size = probs.shape[-1]
    p = ops.where(ops.arange(size) < len(SPECIALS), 0.0, ops.cast(probs, "float32"))
    if temperature == 0 or top_k == 1:
        return ops.cast(ops.argmax(p, axis=-1), "int32")
    if temperature != 1:
        p = ops.exp((ops.log(p) - ops.log(ops.max(p, axis=-1, keepdims=True))) / temperature)
    order = None
    if top_k > 0 or top_p < 1.0:
        order = ops.argsort(-p, axis=-1)
        p = ops.take_along_axis(p, order, axis=-1)
        keep = ops.arange(size) < (top_k or size)
        if top_p < 1.0:
            mass = ops.cumsum(p, axis=-1) / ops.sum(p, axis=-1, keepdims=True)
            below = ops.concatenate([ops.ones_like(mass[:, :1], dtype="bool"), mass[:, :-1] < top_p], axis=-1)
            keep = ops.logical_and(keep, below)
        p = ops.where(keep, p, 0.0)
    p = p / ops.sum(p, axis=-1, keepdims=True)
    picks = ops.sum(ops.cast(ops.cumsum(p, axis=-1) < ops.expand_dims(uniform, -1), "int32"), axis=-1)
    picks = ops.minimum(picks, ops.max(ops.where(p > 0, ops.arange(size), 0), axis=-1))
    if order is None:
        return ops.cast(picks, "int32")
    return ops.cast(ops.take_along_axis(order, ops.expand_dims(picks, -1), axis=-1)[:, 0], "int32")


def with_repeats_ops(probs, followers, chosen: list[tuple], stream: int, weight):
    """`Sampler.with_repeats` in `keras.ops`: `probs` (batch, vocabulary) mixed at `weight` (batch,)
    with what the `followers` (batch, k, a token index per stream and a count; count 0 pads) agreeing with
    the tokens already `chosen` ((column, tokens) pairs of the streams before it in the chain) say
    about the stream in column `stream`."""
    from keras import ops

    from .model import TokenCounts

    agree = followers[:, :, -1] > 0
    for column, token in chosen:
        agree = ops.logical_and(agree, ops.equal(followers[:, :, column], ops.expand_dims(token, -1)))
    times = ops.where(agree, ops.cast(followers[:, :, -1], "float32"), 0.0)
    counts = TokenCounts(probs.shape[-1])([followers[:, :, stream], times])  # (batch, vocabulary)
    total = ops.sum(counts, axis=-1, keepdims=True)
    w = ops.where(total > 0, ops.expand_dims(weight, -1), 0.0)
    return (1.0 - w) * ops.cast(probs, "float32") + w * counts / ops.maximum(total, 1.0)


def build_event_model(model, settings: SamplingSettings):
    """One step of generation as a model sharing `model`'s weights, to be compiled whole
    (`compiled_call`). Seven inputs, with S the model's streams: the previous event (batch, S),
    every recurrent state side by side (batch, sum of `model.state_sizes`), each piece's
    register (batch, 2; read if the model is conditioned on it) and style (batch, 1; read if it
    has styles), a uniform draw per piece and head (batch, S), the repeat memory's followers
    (batch, k, S + 1: `pack_matches`) and mixing weight per head (batch, S). Two outputs: the
    chosen event (batch, S) and the new states, side by side. The same arithmetic as
    `Sampler.step`, `Sampler.head`, `Sampler.with_repeats` and `choose`, in float32."""
    import keras
    from keras import ops

    from .model import state_sizes

    parts = model.music_layers
    streams = parts.streams
    previous = keras.Input(shape=(len(streams),), dtype="int32", name="previous")
    packed = keras.Input(shape=(sum(state_sizes(model)),), name="states")
    registers = keras.Input(shape=(2,), name=REGISTER_KEY)
    style = keras.Input(shape=(1,), dtype="int32", name=STYLE_KEY)
    uniforms = keras.Input(shape=(len(streams),), name="uniforms")
    followers = keras.Input(shape=(None, len(streams) + 1), dtype="int32", name="followers")
    mix = keras.Input(shape=(len(streams),), name="mix")
    inputs = {input_key(s): previous[:, i] for i, s in enumerate(streams)}
    inputs |= {REGISTER_KEY: registers, STYLE_KEY: style}
    bounds = np.cumsum([0, *state_sizes(model)])
    states = [packed[:, a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    context, final = parts.trunk_context(inputs, states, step=True)
    context = ops.expand_dims(context, 1)  # the heads were built on (batch, time, width)
    chosen: dict = {}  # column -> tokens, filled in the chain's order
    for s in parts.chain:
        i = streams.index(s)
        given = {g: ops.expand_dims(chosen[streams.index(g)], -1) for g in parts.givens(s)}
        probs = parts.head(s, context, given)[:, 0]
        if settings.repeat_weights:
            probs = with_repeats_ops(probs, followers, list(chosen.items()), i, mix[:, i])
        if settings.pitch_window and s == "note":
            probs = in_window_ops(probs, registers, settings.pitch_window)
        chosen[i] = choose_ops(probs, settings.temperature[s], settings.top_k, settings.top_p, uniforms[:, i])
    outputs = [ops.stack([chosen[i] for i in range(len(streams))], axis=-1), ops.concatenate(final, axis=-1)]
    return keras.Model([previous, packed, registers, style, uniforms, followers, mix], outputs)


def compiled_call(model):
    """`model` (of `build_event_model`) as a function of its seven numpy inputs, compiled whole by
    the Keras backend: a `tf.function` graph under TensorFlow (`_packed_graph_call`; not XLA, which
    compiled again for every new number of followers and took 2.4 s to start), `jax.jit` under JAX,
    plain calls under torch; it returns the backend's tensors. One call per event instead of a Keras
    `predict_on_batch` per head: most of a step's time was the calls, not the arithmetic."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        step = jax.jit(lambda t, f, *x: model.stateless_call(t, f, list(x), training=False)[0])
        # the variables' current arrays at each call: Keras may replace them (and free the old ones)
        trainable, fixed = model.trainable_variables, model.non_trainable_variables
        return lambda *x: step([v.value for v in trainable], [v.value for v in fixed], *x)
    if backend == "tensorflow":
        return _packed_graph_call(model)
    return lambda *x: model.predict_on_batch(list(x))


def _packed_graph_call(model):
    """`compiled_call` under TensorFlow: a graph per batch size (its shapes known, so TensorFlow folds
    the shape arithmetic away) taking three tensors, the states, every other float input side by side
    and every int input flattened side by side (the followers, whose width varies, last); the graph
    cuts them apart. TensorFlow binds and converts each argument of a call in Python: three instead
    of seven took 0.1-0.35 ms off a step of about 1 ms (docs/BENCHMARKS.md)."""
    import tensorflow as tf

    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    states_at = [t.name for t in model.inputs].index("states")  # passed alone: it stays a tensor between calls
    floats = [i for i, t in enumerate(model.inputs) if i != states_at and t.dtype == "float32"]
    ints = sorted((i for i, t in enumerate(model.inputs) if t.dtype == "int32"), key=lambda i: None in shapes[i])
    graphs = {}

    def unpacked(batch: int):
        def run(states, packed_floats, packed_ints):
            x = [states] * len(shapes)  # every other input is cut out of the packed two below
            for group, packed in ((floats, packed_floats), (ints, packed_ints)):
                widths = [-1 if None in shapes[i] else shapes[i][0] for i in group]
                for i, part in zip(group, tf.split(packed, widths, axis=1), strict=True):
                    x[i] = tf.reshape(part, (batch, -1, shapes[i][-1])) if None in shapes[i] else part
            return model(x, training=False)

        signature = [
            tf.TensorSpec([batch, shapes[states_at][0]], tf.float32),
            tf.TensorSpec([batch, sum(shapes[i][0] for i in floats)], tf.float32),
            tf.TensorSpec([batch, None], tf.int32),
        ]
        return tf.function(run, input_signature=signature).get_concrete_function()

    def call(*x):
        batch = len(x[0])
        if batch not in graphs:
            graphs[batch] = unpacked(batch)
        states = tf.constant(x[states_at]) if isinstance(x[states_at], np.ndarray) else x[states_at]
        packed_floats = np.concatenate([x[i] for i in floats], axis=1, dtype=np.float32)
        packed_ints = np.concatenate([x[i].reshape(batch, -1) for i in ints], axis=1, dtype=np.int32)
        return graphs[batch](states, tf.constant(packed_floats), tf.constant(packed_ints))

    return call


FOLLOWER_SLOTS = 16  # fewest follower rows passed to the compiled step; more go in powers of two


def pack_matches(
    matches: list, batch: int, repeat_weights: dict | None, streams: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Each piece's repeat-memory match as arrays for `build_event_model`: its distinct followers
    with how often each occurred (batch, k, a token index per stream of `streams` and a count; k at
    least `FOLLOWER_SLOTS` and a power of two, so that the compiled step sees few shapes) and each
    head's mixing weight (batch, streams)."""
    distinct = [Counter(found) for _, found in matches]
    most = max(map(len, distinct), default=0)
    slots = max(FOLLOWER_SLOTS, 1 << max(most - 1, 0).bit_length())
    followers = np.zeros((batch, slots, len(streams) + 1), dtype=np.int32)
    mix = np.zeros((batch, len(streams)), dtype=np.float32)
    for b, ((length, _), rows) in enumerate(zip(matches, distinct, strict=True)):
        if rows:
            followers[b, : len(rows)] = [(*row, n) for row, n in rows.items()]
            mix[b] = [weight(repeat_weights[s], length) for s in streams]
    return followers, mix


def choose_registers(
    known: list | None,
    count: int,
    seed: int,
    primer: np.ndarray | None = None,
    styles: list[int] | None = None,
    style: int = 0,
) -> np.ndarray | None:
    """A register for each of `count` pieces: the primer's if there is one, else one of the training
    pieces' registers `known` (a checkpoint's ``registers``) drawn at random, among the pieces of
    `style` where `styles` gives each known register's style index; None without either."""
    if primer is not None and len(primer):
        return np.repeat(piece_register(primer)[None], count, axis=0)
    if not known:
        return None
    if style and styles and style in styles:  # a Joplin piece gets a Joplin piece's register
        known = [register for register, s in zip(known, styles, strict=True) if s == style]
    rng = np.random.default_rng([seed, 1])  # its own stream: the notes drawn stay those of `seed`
    return np.asarray(known, dtype=np.float32)[rng.integers(len(known), size=count)]


class Sampler:
    """Steps a trained model one event at a time for a batch of pieces."""

    def __init__(self, model, together: int | None = None) -> None:
        """`together`: the offset index of a chord's later notes, for the repeat memory (`repeats`)."""
        from .model import input_names, state_sizes  # Keras loads only when used

        self.together = together
        self.model = model
        self.streams: tuple[str, ...] = model.music_layers.streams
        self.order: tuple[int, ...] = model.music_layers.order  # the columns in the order heads are drawn
        self.repeat_order = None if self.order == tuple(range(len(self.order))) else self.order  # `repeats.agreeing`
        self.sizes = state_sizes(model)
        self.wants_register = REGISTER_KEY in input_names(model)
        self.registers: np.ndarray | None = None
        self.wants_style = STYLE_KEY in input_names(model)
        self.styles: np.ndarray | None = None
        self.events: dict[tuple, Callable] = {}  # compiled event steps, by the settings compiled into them

    @cached_property
    def step_model(self):
        """`model.build_step_model` of the model (built on first use: the compiled path needs none)."""
        from .model import build_step_model

        return build_step_model(self.model)

    @cached_property
    def head_models(self) -> dict:
        """`model.build_head_models` of the model (built on first use)."""
        from .model import build_head_models

        return build_head_models(self.model)

    def start(self, batch: int, registers: np.ndarray | None = None, style: int = 0) -> list[np.ndarray]:
        """Zero recurrent states for `batch` pieces, whose `registers` (batch x 2 MIDI pitches,
        `vocab.piece_register`) a model conditioned on register reads at every step (default: middle
        C), as a model with styles reads the index of `style` (0: the unlabelled mix)."""
        if registers is None:
            registers = np.full((batch, 2), 60.0)
        self.registers = np.asarray(registers, dtype=np.float32).reshape(batch, 2)
        self.styles = np.full((batch, 1), style, dtype=np.int32)
        return [np.zeros((batch, n), dtype=np.float32) for n in self.sizes]

    def step(
        self, rows: np.ndarray, states: list[np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray], np.ndarray]:
        """Feed one event per piece (`rows`: batch x streams indices).

        Returns the next event's probabilities for the heads that need no given tokens, the new
        states, and the context that `head` needs for the others.
        """
        tokens = {input_key(s): rows[:, i : i + 1].astype(np.int32) for i, s in enumerate(self.streams)}
        if self.wants_register:
            tokens[REGISTER_KEY] = self.registers
        if self.wants_style:
            tokens[STYLE_KEY] = self.styles
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

    def generate(
        self,
        length: int,
        count: int = 1,
        settings: SamplingSettings | None = None,
        seed: int = 0,
        primer: np.ndarray | None = None,
        registers: np.ndarray | None = None,
        style: int = 0,
        compiled: bool = True,
        progress: bool = False,
    ) -> np.ndarray:
        """Sample `count` pieces of `length` events together; return indices (count, length, streams).

        `primer` (events x streams indices) is fed after ``<start>`` and before sampling begins.
        `registers`: each piece's register, for a model conditioned on it; `style`: the style index,
        for a model with styles (`start`). `compiled`
        draws each event in one compiled call (`build_event_model`); False takes the reference path,
        a Keras call per head and the sampling in numpy. Both take the same random numbers.
        `progress` shows a progress bar on stderr.
        """
        from tqdm import tqdm

        settings = settings or SamplingSettings()
        rng = np.random.default_rng(seed)
        states = self.start(count, registers, style)
        memories = [PieceMemory(self.together) for _ in range(count)]
        history = [np.full(len(self.streams), START_INDEX, dtype=np.int32), *(primer if primer is not None else [])]
        advance = self.compiled_event(settings) if compiled else self.reference_event
        for row in history[:-1]:  # fed, not drawn (the compiled step draws nothing without random numbers)
            rows = np.repeat(row[None, :], count, axis=0)
            states = advance(rows, states, [], settings, None)[1] if compiled else self.step(rows, states)[1]
        for memory in memories:
            for row in history:
                memory.add(row)
        out = np.zeros((count, length, len(self.streams)), dtype=np.int32)
        previous = np.repeat(np.asarray(history[-1], dtype=np.int32)[None, :], count, axis=0)
        for t in tqdm(range(length), desc="sampling", unit="event", disable=not progress, file=sys.stderr, leave=False):
            matches = [memory.match() for memory in memories] if settings.repeat_weights else []
            out[:, t], states = advance(previous, states, matches, settings, rng)
            for memory, row in zip(memories, out[:, t], strict=True):
                memory.add(row)
            previous = out[:, t]
        return out

    def reference_event(
        self, previous: np.ndarray, states: list, matches: list, settings: SamplingSettings, rng: np.random.Generator
    ) -> tuple[np.ndarray, list]:
        """Feed the `previous` events and draw the next ones head by head, in numpy."""
        probs, states, context = self.step(previous, states)
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

    def compiled_event(self, settings: SamplingSettings) -> Callable:
        """A function like `reference_event` that draws each event in one compiled call (built once
        per temperature, top-k, top-p, use of the repeat memory and pitch window)."""
        key = (tuple(settings.temperature[s] for s in self.streams), settings.top_k, settings.top_p)
        key += (settings.repeat_weights is not None, settings.pitch_window)
        if key in self.events:
            return self.events[key]
        run = compiled_call(build_event_model(self.model, settings))
        sampled = [settings.temperature[s] != 0 and settings.top_k != 1 for s in self.streams]  # heads that draw

        def event(previous, states, matches, settings, rng):
            batch = len(previous)
            uniforms = np.zeros((batch, len(self.streams)), dtype=np.float32)
            for i in self.order:
                if sampled[i] and rng is not None:  # the numbers `choose` would take, in its order
                    uniforms[:, i] = rng.random(batch)
            followers, mix = pack_matches(matches, batch, settings.repeat_weights, self.streams)
            if isinstance(states, list):  # `start`'s zeros; afterwards the states stay the backend's tensors
                states = np.concatenate(states, axis=1)
            chosen, states = run(
                previous.astype(np.int32), states, self.registers, self.styles, uniforms, followers, mix
            )
            return np.asarray(chosen), states

        self.events[key] = event
        return event

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
