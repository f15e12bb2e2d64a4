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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..data.meter import BEATS, GRID, OFF_GRID, STEPS
from ..model.repeats import (
    MAX_CONTEXT,
    match_ops,
    remember_ops,
    row_keys,
    start_memory_ops,
    weight,
)
from ..streams import (
    ALL_STREAMS,
    POSITION_KEY,
    REGISTER_KEY,
    SPECIALS,
    START_INDEX,
    STYLE_KEY,
    input_key,
)
from .conditions import Bars

# Plain sampling from the model (with its repeat memory): of the settings tried in the music
# report (docs/BENCHMARKS.md) the closest to real pieces; lower temperatures fall into loops.
DEFAULT_TEMPERATURE = 1.0  # the one default of generate_music.py and evaluate: plain sampling (docs/BENCHMARKS.md)


def bar_positions_ops(times, pieces, resolution: int):
    """`meter.positions` in generation's terms, in `keras.ops`: (time signature index, beat, step),
    (batch, 3), of starts at `times` (batch,) ticks of 1/`resolution` quarter (a multiple of `GRID`)
    after a bar line, for pieces of time signature index, ticks per bar and per beat `pieces` (batch, 3)."""
    from keras import ops

    in_bar = ops.mod(times, pieces[:, 1])
    in_beat = ops.mod(in_bar, pieces[:, 2])
    unit = resolution // GRID
    step = ops.where(ops.equal(ops.mod(in_beat, unit), 0), ops.minimum(in_beat // unit, STEPS - 1), OFF_GRID)
    return ops.stack([pieces[:, 0], ops.minimum(in_bar // pieces[:, 2], BEATS - 1), step], axis=-1)


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


def in_window_ops(probs, registers, window: tuple[float, float]):
    """`probs` (batch, pitch vocabulary) with the pitches outside each piece's register (batch, 2)
    widened by `window` (below, above) set to 0; a row with no mass left inside stays as it was."""
    from keras import ops

    pitches = ops.cast(ops.arange(probs.shape[-1]) - len(SPECIALS), "float32")
    low, high = registers[:, :1] - window[0], registers[:, 1:] + window[1]
    kept = ops.where(ops.logical_and(ops.greater_equal(pitches, low), ops.less_equal(pitches, high)), probs, 0.0)
    return ops.where(ops.sum(kept, axis=-1, keepdims=True) > 0, kept, probs)


def choose_ops(probs, temperature: float, top_k: int, top_p: float, uniform):
    """One index per row of `probs` (batch, vocabulary), drawn with `uniform` (batch,); never a special token.

    Temperature 0 (or top-k 1) takes the most likely token; otherwise probabilities are raised to
    1/temperature, cut to the `top_k` most likely and to the smallest set whose mass reaches
    `top_p`, renormalised and drawn: by rank when cut, else in the vocabulary's order (the same
    distribution without a sort). A draw past the rounded total mass takes the last token that can
    be drawn.
    """
    from keras import ops

    size = probs.shape[-1]
    p = ops.where(ops.arange(size) < len(SPECIALS), 0.0, ops.cast(probs, "float32"))
    if temperature == 0 or top_k == 1:
        return ops.maximum(ops.cast(ops.argmax(p, axis=-1), "int32"), len(SPECIALS))
    if temperature != 1:  # the most likely token gets exactly exp(0): the row keeps some mass at any temperature
        logits = ops.log(p) / temperature
        p = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))
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
    picks = ops.sum(ops.cast(ops.cumsum(p, axis=-1) <= ops.expand_dims(uniform, -1), "int32"), axis=-1)
    picks = ops.minimum(picks, ops.max(ops.where(p > 0, ops.arange(size), 0), axis=-1))
    if order is not None:
        picks = ops.take_along_axis(order, ops.expand_dims(picks, -1), axis=-1)[:, 0]
    return ops.maximum(ops.cast(picks, "int32"), len(SPECIALS))  # never a special token, whatever the row holds


def with_repeats_ops(probs, followers, counts, chosen: list[tuple], stream: int, weight):
    """Each piece's repeat memory mixed into `probs` (batch, vocabulary) at `weight` (batch,): what
    the `followers` (batch, k, a token index per stream), each occurring `counts` (batch, k;
    0: not a follower) times and agreeing with the tokens already `chosen` ((column, tokens) pairs
    of the streams before it in the chain), say about the stream in column `stream`."""
    from keras import ops

    from ..model.network import TokenCounts

    agree = counts > 0
    for column, token in chosen:
        agree = ops.logical_and(agree, ops.equal(followers[:, :, column], ops.expand_dims(token, -1)))
    times = ops.where(agree, ops.cast(counts, "float32"), 0.0)
    counts = TokenCounts(probs.shape[-1])([followers[:, :, stream], times])  # (batch, vocabulary)
    total = ops.sum(counts, axis=-1, keepdims=True)
    w = ops.where(total > 0, ops.expand_dims(weight, -1), 0.0)
    return (1.0 - w) * ops.cast(probs, "float32") + w * counts / ops.maximum(total, 1.0)


def build_event_model(model, settings: SamplingSettings):
    """One step of generation as a model sharing `model`'s weights, to be compiled whole
    (`compiled_loop`). Nine inputs, with S the model's streams: the previous event (batch, S),
    every recurrent state side by side (batch, sum of `model.state_sizes`), each piece's
    register (batch, 2; read if the model is conditioned on it) and style (batch, 1; read if it
    has styles), a uniform draw per piece and head (batch, S), the repeat memory's followers
    (batch, k, S) with how often each follows the match (batch, k; `repeats.match_ops`), the
    mixing weight per head (batch, S), and the previous event's place in its bar (batch, 3; read if
    the model reads meter: `meter.positions`). Two outputs: the
    chosen event (batch, S) and the new states, side by side. tests/reference_sampler.py does the
    same in numpy, a Keras call per head, and the tests hold the two to the same draws."""
    import keras
    from keras import ops

    from ..model.network import state_sizes

    parts = model.music_layers
    streams = parts.streams
    previous = keras.Input(shape=(len(streams),), dtype="int32", name="previous")
    packed = keras.Input(shape=(sum(state_sizes(model)),), name="states")
    registers = keras.Input(shape=(2,), name=REGISTER_KEY)
    style = keras.Input(shape=(1,), dtype="int32", name=STYLE_KEY)
    uniforms = keras.Input(shape=(len(streams),), name="uniforms")
    followers = keras.Input(shape=(None, len(streams)), dtype="int32", name="followers")
    counts = keras.Input(shape=(None,), dtype="int32", name="counts")
    mix = keras.Input(shape=(len(streams),), name="mix")
    position = keras.Input(shape=(3,), dtype="int32", name=POSITION_KEY)
    inputs = {input_key(s): previous[:, i] for i, s in enumerate(streams)}
    inputs |= {REGISTER_KEY: registers, STYLE_KEY: style, POSITION_KEY: position}
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
            probs = with_repeats_ops(probs, followers, counts, list(chosen.items()), i, mix[:, i])
        if settings.pitch_window and s == "note":
            probs = in_window_ops(probs, registers, settings.pitch_window)
        chosen[i] = choose_ops(probs, settings.temperature[s], settings.top_k, settings.top_p, uniforms[:, i])
    outputs = [ops.stack([chosen[i] for i in range(len(streams))], axis=-1), ops.concatenate(final, axis=-1)]
    return keras.Model([previous, packed, registers, style, uniforms, followers, counts, mix, position], outputs)


LOOP_CHUNK = 256  # events per compiled call: between calls the progress bar moves and Ctrl-C is heard
ROWS_BUCKET = 512  # the rows buffer grows in steps of this many events, so that JAX compiles for few shapes


def mix_table(repeat_weights: dict[str, list[float]], streams: tuple[str, ...]) -> np.ndarray:
    """Each head's repeat-memory mixing weight by match length, (`MAX_CONTEXT` + 1, streams): `weight`
    as a table the compiled loop can index."""
    return np.array([[weight(repeat_weights[s], n) for s in streams] for n in range(MAX_CONTEXT + 1)], np.float32)


def loop_chunk(
    settings: SamplingSettings, sizes: list[int], same_onset: int | None, clock: tuple[np.ndarray, int] | None = None
) -> Callable:
    """A number of generation steps in `keras.ops`, one `keras.ops.fori_loop`, to be compiled whole
    (`compiled_loop`), for a model of vocabularies `sizes`. The returned function takes `event`
    (calls the model of `build_event_model`), the carry (rows (batch, capacity, streams) of every
    piece so far, their `repeats.row_keys`, the repeat memory's lengths and onsets
    (`repeats.match_ops`), the states side by side and the time of the row fed next (batch,)), each
    piece's register, style and bar (`Bars.pieces`), the times of the given rows (capacity,), the
    uniform draws (chunk, batch, streams) of steps `first` to `first + steps`, and `known`, the rows
    given rather than drawn (``<start>`` and the primer); it returns the carry after those steps.
    Step i feeds row i (and its place in its bar, for a model that reads meter: `clock` is then
    `Bars.offset_ticks` and `Bars.resolution`) and writes row i + 1: the row drawn, or the given one
    while i + 1 < `known`."""
    from keras import ops

    table = mix_table(settings.repeat_weights, ALL_STREAMS[: len(sizes)]) if settings.repeat_weights else None

    def chunk(event: Callable, carry, registers, style, bars, given, uniforms, first, steps, known):
        def body(i, carry):
            rows, keys, lengths, onsets, states, now = carry
            end = i + 1
            if table is None:
                followers, counts = rows[:, :1], ops.zeros_like(lengths[:, :1])
                mix = ops.zeros((rows.shape[0], len(sizes)))
            else:
                length, after = match_ops(lengths, onsets, end)
                followers, counts, mix = rows, ops.cast(after, "int32"), ops.take(table, length, axis=0)
            drawn = ops.take(uniforms, i - first, axis=0)
            position = ops.zeros_like(bars) if clock is None else bar_positions_ops(now, bars, clock[1])
            inputs = [ops.take(rows, i, axis=1), states, registers, style, drawn, followers, counts, mix, position]
            chosen, states = event(inputs)
            row = ops.where(end < known, ops.take(rows, end, axis=1), chosen)
            at = ops.reshape(ops.equal(ops.arange(ops.shape(rows)[1], dtype="int32"), end), (1, -1, 1))
            rows = ops.where(at, ops.expand_dims(row, 1), rows)
            if clock is not None:  # the time of row i + 1: given, or row i's moved by the offset drawn
                now = ops.where(end < known, ops.take(given, end), now + ops.take(clock[0], row[:, 1]))
            if table is not None:
                keys = ops.where(at, ops.expand_dims(row_keys(row, sizes), 1), keys)
                onset = ops.not_equal(row[:, 1], -1 if same_onset is None else same_onset)
                lengths, onsets = remember_ops(keys, lengths, onsets, end, onset)
            return rows, keys, lengths, onsets, states, now

        return ops.fori_loop(first, first + steps, body, carry)

    return chunk


def loop_signature(batch: int, streams: int, width: int) -> list:
    """The `tf.TensorSpec`s of a compiled loop's arguments for `batch` pieces of `streams` streams
    whose recurrent states are `width` wide: the carry (rows, keys, match lengths, onsets, states,
    time), the fixed inputs (registers, styles, bars, given times, uniforms) and three counters."""
    import tensorflow as tf

    scalar = tf.TensorSpec([], tf.int32)
    return [
        tf.TensorSpec([batch, None, streams], tf.int32),
        tf.TensorSpec([batch, None, None], tf.int32),
        tf.TensorSpec([batch, None], tf.int32),
        tf.TensorSpec([batch, 4], tf.int32),
        tf.TensorSpec([batch, width], tf.float32),
        tf.TensorSpec([batch], tf.int32),
        tf.TensorSpec([batch, 2], tf.float32),
        tf.TensorSpec([batch, 1], tf.int32),
        tf.TensorSpec([batch, 3], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([LOOP_CHUNK, batch, streams], tf.float32),
        scalar,
        scalar,
        scalar,
    ]


def compiled_loop(
    model, settings: SamplingSettings, sizes: list[int], same_onset: int | None, clock: tuple | None = None
) -> Callable:
    """`loop_chunk` around `model` (of `build_event_model`) as a function of the carry and the other
    inputs, compiled whole by the Keras backend: a `tf.function` graph per batch size under
    TensorFlow, `jax.jit` under JAX, plain calls under torch. One call runs up to `LOOP_CHUNK` events:
    one call per event cost more in the call itself (about 0.25 ms under TensorFlow) and in the
    host's repeat memory than in the network (docs/BENCHMARKS.md)."""
    import keras

    chunk = loop_chunk(settings, sizes, same_onset, clock)
    streams = len(sizes)
    trainable, fixed = model.trainable_variables, model.non_trainable_variables

    def stateless(trainable_values, fixed_values, *x):
        """`chunk` with the weights given once, so that no step of the loop reads a variable again."""
        return chunk(lambda inputs: model.stateless_call(trainable_values, fixed_values, inputs, training=False)[0], *x)

    def values(read: Callable = lambda value: value) -> tuple[list, list]:
        """The variables' current values, `read` at each call: Keras may replace them (and free the old ones)."""
        return [read(v.value) for v in trainable], [read(v.value) for v in fixed]

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        step = jax.jit(stateless)
        return lambda *x: step(*values(), *x)
    if backend != "tensorflow":
        return lambda *x: stateless(*values(), *x)
    import tensorflow as tf

    width = int(model.inputs[[t.name for t in model.inputs].index("states")].shape[-1])
    graphs = {}

    def traced(batch: int):
        def run(rows, keys, lengths, onsets, states, now, *x):  # a variable's `value` is the variable: read it here
            return stateless(*values(tf.convert_to_tensor), (rows, keys, lengths, onsets, states, now), *x)

        signature = loop_signature(batch, streams, width)
        return tf.function(run, input_signature=signature, autograph=False).get_concrete_function()

    def call(carry, *x):
        batch = len(x[0])
        if batch not in graphs:
            graphs[batch] = traced(batch)
        return tuple(graphs[batch](*carry, *x))

    return call


class Sampler:
    """Steps a trained model one event at a time for a batch of pieces."""

    def __init__(self, model, same_onset: int | None = None) -> None:
        """`same_onset`: the offset index of a chord's later notes, for the repeat memory (`repeats`)."""
        from ..model.network import input_names, state_sizes  # Keras loads only when used

        self.same_onset = same_onset
        self.model = model
        self.streams: tuple[str, ...] = model.music_layers.streams
        self.order: tuple[int, ...] = model.music_layers.order  # the columns in the order heads are drawn
        self.sizes = state_sizes(model)
        self.vocabulary_sizes = [model.music_layers.heads[s][-1].units for s in self.streams]
        self.wants_register = REGISTER_KEY in input_names(model)
        self.registers: np.ndarray | None = None
        self.wants_style = STYLE_KEY in input_names(model)
        self.styles: np.ndarray | None = None
        self.wants_position = POSITION_KEY in input_names(model)
        self.bars: Bars | None = None  # a model that reads meter keeps each piece's bars with these
        self.loops: dict[tuple, Callable] = {}  # compiled generation loops, by the settings compiled into them

    def start(
        self, batch: int, registers: np.ndarray | None = None, style: int | np.ndarray = 0, bars: Bars | None = None
    ) -> list[np.ndarray]:
        """Zero recurrent states for `batch` pieces, whose `registers` (batch x 2 MIDI pitches,
        `vocab.piece_register`) a model conditioned on register reads at every step (default: middle
        C), as a model with styles reads the index of `style` (0: the unlabelled mix; one for every
        piece, or one per piece) and one that reads meter each event's place in its bar, kept by
        `bars` (default: no meter known, 4/4)."""
        if registers is None:
            registers = np.full((batch, 2), 60.0)
        self.registers = np.asarray(registers, dtype=np.float32).reshape(batch, 2)
        self.styles = np.broadcast_to(np.asarray(style, dtype=np.int32).reshape(-1, 1), (batch, 1)).copy()
        if self.wants_position and bars is None:
            sizes = self.vocabulary_sizes
            bars = Bars(np.tile([[0, 4 * GRID, GRID]], (batch, 1)), np.zeros(sizes[1], np.int32), np.zeros(1), GRID)
        self.bars = bars
        return [np.zeros((batch, n), dtype=np.float32) for n in self.sizes]

    def generate(
        self,
        length: int,
        count: int = 1,
        settings: SamplingSettings | None = None,
        seed: int = 0,
        primer: np.ndarray | None = None,
        registers: np.ndarray | None = None,
        style: int | np.ndarray = 0,
        progress: bool = False,
        bars: Bars | None = None,
    ) -> np.ndarray:
        """Sample `count` pieces of `length` events together; return indices (count, length, streams).

        `primer` (events x streams indices) is fed after ``<start>`` and before sampling begins.
        `registers`: each piece's register, for a model conditioned on it; `style`: the style index
        (or one per piece), for a model with styles; `bars`: each piece's bars, for a model that reads meter (`start`).
        The whole loop, the repeat memory included, runs in compiled calls of `LOOP_CHUNK` events
        (`run`). `progress` shows a progress bar on stderr.
        """
        from tqdm import tqdm

        settings = settings or SamplingSettings()
        rng = np.random.default_rng(seed)
        states = self.start(count, registers, style, bars)
        history = [np.full(len(self.streams), START_INDEX, dtype=np.int32), *(primer if primer is not None else [])]
        history = np.asarray(history, dtype=np.int32)
        bar = tqdm(total=length, desc="sampling", unit="event", disable=not progress, file=sys.stderr, leave=False)
        with bar:
            return self.run(length, settings, rng, history, states, bar)

    def given_times(self, known: int) -> np.ndarray:
        """The times of the `known` given rows, from a bar line (0 for a model that reads no meter,
        and for rows whose time `bars` does not give)."""
        times = np.zeros(known, dtype=np.int32)
        if self.bars is not None:
            given = np.asarray(self.bars.given, dtype=np.int32)[:known]
            times[: len(given)] = given
        return times

    def run(
        self, length: int, settings: SamplingSettings, rng: np.random.Generator, history: np.ndarray, states: list, bar
    ) -> np.ndarray:
        """`generate`'s loop: the `history` rows (``<start>`` and the primer) given, `length` rows drawn
        after them in calls of `LOOP_CHUNK` steps, with uniform numbers from `rng` taken by event,
        then head (in the chain's order), then piece (the order tests/reference_sampler.py draws in)."""
        batch, known, streams = len(states[0]), len(history), len(self.streams)
        total = known + length
        rows = np.zeros((batch, -(-total // ROWS_BUCKET) * ROWS_BUCKET, streams), dtype=np.int32)
        rows[:, :known] = history
        sampled = [i for i in self.order if settings.temperature[self.streams[i]] != 0 and settings.top_k != 1]
        uniforms = np.zeros((total - 1 + LOOP_CHUNK, batch, streams), dtype=np.float32)
        uniforms[known - 1 : total - 1, :, sampled] = rng.random((length, len(sampled), batch)).transpose(0, 2, 1)
        run = self.compiled_loop(settings)
        keys = row_keys(rows, self.vocabulary_sizes)
        given = np.zeros(rows.shape[1], dtype=np.int32)  # the times of the given rows, from a bar line
        given[:known] = self.given_times(known)
        now = np.zeros(batch, dtype=np.int32)  # the time of the row fed next: <start>'s
        carry = (rows, keys, *start_memory_ops(batch, rows.shape[1]), np.concatenate(states, axis=1), now)
        pieces = self.bars.pieces.astype(np.int32) if self.bars is not None else np.zeros((batch, 3), np.int32)
        for first in range(0, total - 1, LOOP_CHUNK):
            steps = min(LOOP_CHUNK, total - 1 - first)
            chunk = uniforms[first : first + LOOP_CHUNK]
            fixed = (self.registers, self.styles, pieces, given, chunk)
            carry = run(carry, *fixed, np.int32(first), np.int32(steps), np.int32(known))
            bar.update(max(0, first + steps - max(first, known - 1)))
        return np.asarray(carry[0])[:, known:total]

    def compiled_loop(self, settings: SamplingSettings) -> Callable:
        """`compiled_loop` of the model for `settings` (built once per temperature, top-k, top-p, repeat
        weights and pitch window)."""
        key = (tuple(settings.temperature[s] for s in self.streams), settings.top_k, settings.top_p)
        weights = sorted((s, tuple(w)) for s, w in (settings.repeat_weights or {}).items())
        clock = (self.bars.offset_ticks.astype(np.int32), self.bars.resolution) if self.wants_position else None
        key += (tuple(weights), settings.pitch_window, None if clock is None else (tuple(clock[0]), clock[1]))
        if key not in self.loops:
            event = build_event_model(self.model, settings)
            self.loops[key] = compiled_loop(event, settings, self.vocabulary_sizes, self.same_onset, clock)
        return self.loops[key]
