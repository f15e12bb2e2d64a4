"""The three-branch functional LSTM: note, offset and duration in; one softmax head each out.

A model of several instruments has a fourth branch and head, ``instrument``: first in the chain
with `ModelConfig.instrument_first` (instrument -> note -> offset -> duration; `train.py`'s
default), else last.

Each stream's token indices pass an Embedding and an LSTM branch; the branches (and beside them,
where the model has them, the piece's register through a small dense layer, its style, and each
event's place in its bar) are concatenated and pass a trunk of LSTMs and a shared Dense layer,
then split into three heads named ``note``, ``offset`` and ``duration`` that predict the next
event at every time step. Only `keras.layers` and `keras.ops` are used, so the model runs on the
TensorFlow, JAX and torch backends; the LSTMs keep Keras' default activations and no recurrent
dropout, so Keras picks the fused cuDNN kernel on a GPU.

With `conditioned` heads the next event is predicted one stream after the other: the offset head
also sees the embedding of the event's note, and the duration head that of its note and offset.
In training these are the true tokens (inputs ``note_given`` and ``offset_given``); in sampling
they are the tokens just drawn, so a chord gets a rhythm that suits a chord. Without it the three
heads are sampled independently of each other.

The same layer objects build the graphs: `build_model` (whole sequences, for training and
scoring), `build_segment_model` (a stretch from given recurrent states, for scoring long pieces)
and the sampler's one-event step (`sampling.build_event_model`), so their weights are shared and a
step costs one pass of each layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers, ops

from ..data.meter import BEATS, OFF_GRID
from ..streams import INSTRUMENT, PIECE_KEYS, POSITION_KEY, REGISTER_KEY, STYLE_KEY, given_key, input_key, streams_of


@dataclass
class ModelConfig:
    """Sizes of the network; `head_units` 0 means the heads are a single softmax Dense layer.

    `conditioned` heads see the tokens already chosen for the same event (note, then offset).
    `pitch_embedding` (note-level events, whose note vocabulary is `vocab.pitch_vocabulary`) embeds
    a pitch as the sum of its own, its pitch class's and its octave's vectors (`PitchEmbedding`).
    `register` adds an input: the piece's register (`vocab.piece_register`), read at every step.
    `styles` is the number of style labels (0: no style input): the piece's style index (0: none)
    is embedded and read at every step beside the branches, like the register.
    `instrument_first` puts the instrument head first in the conditioned chain (instrument -> note
    -> offset -> duration) instead of last; it changes nothing without an instrument stream.
    `meters` is the number of time-signature labels (0: no meter input): each event's time
    signature, beat of the bar and step in the beat (`encoding.encode_positions`) are embedded and read
    beside the branches (`PositionEmbedding`).
    """

    embedding: int = 64
    branch_units: int = 128
    trunk_units: list[int] = field(default_factory=lambda: [256])
    dense_units: int = 256
    head_units: int = 0
    batch_norm: bool = False
    dropout: float = 0.3
    conditioned: bool = False
    pitch_embedding: bool = False
    register: bool = False
    instrument_first: bool = False
    styles: int = 0
    meters: int = 0

    def to_dict(self) -> dict:
        """JSON-ready form, stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Inverse of `to_dict`."""
        return cls(**{**data, "trunk_units": list(data["trunk_units"])})


PRESETS: dict[str, ModelConfig] = {
    # The original design's sizes, with embeddings instead of scaled floats.
    "original": ModelConfig(64, 256, [512, 512], 256, 128, True, 0.3, True),
    # One epoch of midi_songs/ in about a minute on a 2-core laptop.
    "small": ModelConfig(32, 64, [128], 128, 0, False, 0.1, True),
    # Best held-out loss within 15 minutes on a 2-core CPU of the note-event sizes tried, at batch 64
    # (docs/HISTORY.md, "The default preset for note events").
    "default": ModelConfig(48, 96, [192], 192, 96, True, 0.3, True),
}


class TokenCounts(layers.Layer):
    """Sums of `times` (batch, k) by the token each names in `tokens` (batch, k), as (batch, size):
    how often the sampling step's repeat-memory followers name each token (`sampling.with_repeats_ops`).
    One sum by cell over the whole batch, where a one-hot would be (batch, k, size); the counts are
    whole numbers, so the sums are exact in any order."""

    def __init__(self, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = size

    def call(self, inputs):
        tokens, times = inputs
        batch = ops.shape(tokens)[0]
        cells = tokens + ops.expand_dims(ops.arange(batch, dtype=tokens.dtype) * self.size, -1)
        flat = ops.segment_sum(ops.reshape(times, (-1,)), ops.reshape(cells, (-1,)), batch * self.size)
        return ops.reshape(flat, (batch, self.size))

    def compute_output_shape(self, shapes):
        return (shapes[0][0], self.size)


class PitchEmbedding(layers.Layer):
    """Embeds indices of `vocab.pitch_vocabulary` (specials, then MIDI pitches 0-127) as the sum of a
    vector per pitch, per pitch class and per octave, so what is learned about C4 carries to every C
    and to its neighbours in register, and a pitch rare in training is read sensibly."""

    def __init__(self, specials: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.specials = specials
        self.pitch = layers.Embedding(specials + 128, dim, name="pitch")
        self.pitch_class = layers.Embedding(13, dim, name="pitch_class")  # 12 classes, then "special"
        self.octave = layers.Embedding(12, dim, name="octave")  # 11 MIDI octaves, then "special"

    def build(self, input_shape) -> None:
        for layer in (self.pitch, self.pitch_class, self.octave):
            layer.build(input_shape)

    def call(self, indices):
        midi = ops.maximum(indices - self.specials, 0)
        special = indices < self.specials
        pitch_class = ops.where(special, 12, ops.mod(midi, 12))
        octave = ops.where(special, 11, ops.floor_divide(midi, 12))
        return self.pitch(indices) + self.pitch_class(pitch_class) + self.octave(octave)


class PositionEmbedding(layers.Layer):
    """Embeds an event's place in its bar, (..., 3) int: its time signature's index among `meters`,
    the beat of the bar and the step of the beat (`meter.positions`), as the sum of a vector for
    each, so that what is learned of a downbeat carries from one time signature to the others."""

    def __init__(self, meters: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.meter = layers.Embedding(meters, dim, name="meter")
        self.beat = layers.Embedding(BEATS, dim, name="beat")
        self.step = layers.Embedding(OFF_GRID + 1, dim, name="step")

    def build(self, input_shape) -> None:
        for layer in (self.meter, self.beat, self.step):
            layer.build(input_shape[:-1])

    def call(self, positions):
        return self.meter(positions[..., 0]) + self.beat(positions[..., 1]) + self.step(positions[..., 2])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.meter.output_dim)


class _Layers:
    """Every layer of the network, created once and wired into the sequence and step graphs."""

    def __init__(self, vocab_sizes: dict[str, int], config: ModelConfig) -> None:
        self.streams = streams_of(vocab_sizes)
        # the order the heads are conditioned and drawn in; the streams' columns stay as they are
        first = INSTRUMENT in self.streams and config.instrument_first
        self.chain = (INSTRUMENT, *self.streams[:-1]) if first else self.streams
        self.order = tuple(self.streams.index(s) for s in self.chain)
        self.embeddings = {
            s: layers.Embedding(vocab_sizes[s], config.embedding, name=f"{s}_embedding") for s in self.streams
        }
        if config.pitch_embedding:
            specials = vocab_sizes["note"] - 128
            self.embeddings["note"] = PitchEmbedding(specials, config.embedding, name="note_embedding")
        self.branches = {
            s: layers.LSTM(config.branch_units, return_sequences=True, return_state=True, name=f"{s}_lstm")
            for s in self.streams
        }
        # the register (two MIDI pitches) as a vector beside the branches at every time step
        self.register = None
        if config.register:
            self.register = layers.Dense(config.embedding, activation="tanh", name="register_vector")
        # the piece's style (index 0: none) as a vector beside the branches at every time step
        self.style = (
            layers.Embedding(config.styles, config.embedding, name="style_embedding") if config.styles else None
        )
        # each event's time signature, beat and step (`encoding.encode_positions`) beside the branches
        self.position = (
            PositionEmbedding(config.meters, config.embedding, name="position_embedding") if config.meters else None
        )
        self.concat = layers.Concatenate(name="merge")
        self.trunk = [
            layers.LSTM(units, return_sequences=True, return_state=True, name=f"trunk_lstm_{i}")
            for i, units in enumerate(config.trunk_units)
        ]
        for lstm in self.recurrent():  # unique names, for the sampling step that calls the cells directly
            lstm.cell.name = f"{lstm.name}_cell"
        # dropout between every recurrent stage (not inside the LSTMs, which would rule out cuDNN)
        stages = len(config.trunk_units) + 1
        self.dropouts = [layers.Dropout(config.dropout, name=f"dropout_{i}") for i in range(stages)]
        self.dense = layers.Dense(config.dense_units, activation="relu", name="shared_dense")
        self.heads = {}
        for s in self.streams:
            head = []
            if config.head_units:
                head.append(layers.Dense(config.head_units, name=f"{s}_hidden"))
                if config.batch_norm:
                    head.append(layers.BatchNormalization(name=f"{s}_norm"))
                head.append(layers.Activation("relu", name=f"{s}_relu"))
                head.append(layers.Dropout(config.dropout, name=f"{s}_dropout"))
            # float32 softmax even under a mixed-precision policy, so small probabilities survive
            head.append(layers.Dense(vocab_sizes[s], activation="softmax", name=s, dtype="float32"))
            self.heads[s] = head

        self.conditioned = config.conditioned
        self.head_inputs = {
            s: layers.Concatenate(name=f"{s}_context") for i, s in enumerate(self.chain) if i and config.conditioned
        }

    def givens(self, stream: str) -> tuple[str, ...]:
        """The streams of the same event whose tokens the head of `stream` is conditioned on."""
        return self.chain[: self.chain.index(stream)] if self.conditioned else ()

    def recurrent(self) -> list[layers.LSTM]:
        """The LSTM layers in the order their states are passed to and from the step model."""
        return [self.branches[s] for s in self.streams] + self.trunk

    def trunk_context(self, inputs: dict, states: list | None = None, step: bool = False) -> tuple:
        """The shared context every head reads, from `inputs`; also the LSTMs' final states.

        `step`: the inputs are one event per piece without a time axis (tokens (batch,), context
        (batch, dense)), and each LSTM is its cell called once, without the layer's loop over time:
        the same arithmetic in fewer operations, for the compiled sampling step."""
        recurrent = self.recurrent()
        initial = (
            [None] * len(recurrent) if states is None else [states[2 * i : 2 * i + 2] for i in range(len(recurrent))]
        )

        def run(lstm, x, state):
            if step:
                out, (h, c) = lstm.cell(x, state)
                return out, h, c
            return lstm(x, initial_state=state)

        final = []
        branches = []
        for i, s in enumerate(self.streams):
            out, h, c = run(self.branches[s], self.embeddings[s](inputs[input_key(s)]), initial[i])
            branches.append(out)
            final += [h, c]
        # the sequence graph's operations stay exactly as they were: Keras names a checkpoint's layers
        # by their order in the graph, so an old checkpoint would load into the wrong layers
        if self.register is not None:
            vector = self.register((inputs[REGISTER_KEY] - 60.0) / 12.0)
            branches.append(vector if step else ops.zeros_like(branches[0][..., :1]) + ops.expand_dims(vector, 1))
        if self.style is not None:  # (batch, 1) -> (batch, 1, embedding), repeated along time
            vector = self.style(inputs[STYLE_KEY])
            branches.append(vector[:, 0] if step else ops.zeros_like(branches[0][..., :1]) + vector)
        if self.position is not None:  # one per event, like the tokens
            branches.append(self.position(inputs[POSITION_KEY]))
        x = self.concat(branches)
        for j, lstm in enumerate(self.trunk):
            x, h, c = run(lstm, self.dropouts[j](x), initial[len(self.streams) + j])
            final += [h, c]
        return self.dense(self.dropouts[-1](x)), final

    def head(self, stream: str, context, given: dict):
        """The softmax of `stream` from the context and, if conditioned, the `given` earlier tokens."""
        y = context
        if self.givens(stream):
            y = self.head_inputs[stream]([context] + [self.embeddings[g](given[g]) for g in self.givens(stream)])
        for layer in self.heads[stream]:
            y = layer(y)
        return y

    def wire(self, inputs: dict) -> dict:
        """Connect the layers of the sequence model; the givens are the next event's true tokens."""
        context, _ = self.trunk_context(inputs)
        given = {s: inputs[given_key(s)] for s in self.streams if given_key(s) in inputs}
        return {s: self.head(s, context, given) for s in self.streams}


def piece_inputs(config: ModelConfig | _Layers) -> dict:
    """The register input (batch, 2) of a model conditioned on register and the style input (batch,
    1) of a model with styles, where it has them."""
    if isinstance(config, ModelConfig):
        register, style = config.register, bool(config.styles)
    else:
        register, style = config.register is not None, config.style is not None
    inputs = {REGISTER_KEY: keras.Input(shape=(2,), dtype="float32", name=REGISTER_KEY)} if register else {}
    return inputs | ({STYLE_KEY: keras.Input(shape=(1,), dtype="int32", name=STYLE_KEY)} if style else {})


def position_input(meters: int, shape: tuple) -> dict:
    """The input of events' places in their bars, of `shape`, for a model with `meters` time
    signatures (none without)."""
    return {POSITION_KEY: keras.Input(shape=shape, dtype="int32", name=POSITION_KEY)} if meters else {}


def build_model(vocab_sizes: dict[str, int], config: ModelConfig) -> keras.Model:
    """The sequence model: one (batch, time) index input per stream of `vocab_sizes` (three, or four
    with instruments) -> one (batch, time, vocab) softmax each.

    The built model keeps its layers in `model.music_layers` so the other graphs can share them.
    """
    parts = _Layers(vocab_sizes, config)
    inputs = {input_key(s): keras.Input(shape=(None,), dtype="int32", name=input_key(s)) for s in parts.streams}
    givens = {g for s in parts.streams for g in parts.givens(s)}
    inputs |= {given_key(g): keras.Input(shape=(None,), dtype="int32", name=given_key(g)) for g in sorted(givens)}
    inputs |= piece_inputs(config) | position_input(config.meters, (None, 3))
    outputs = parts.wire(inputs)
    model = keras.Model(inputs=inputs, outputs=outputs, name="lstm_music")
    model.music_layers = parts
    return model


def build_segment_model(model: keras.Model) -> keras.Model:
    """A model sharing `model`'s weights that reads a stretch of a piece from given LSTM states:
    ([inputs, states]) -> [probs, states]. Its inputs are `model`'s plus the (h, c) pair of every
    LSTM in `_Layers.recurrent` order, so a long piece is scored stretch by stretch with the memory
    of one stretch, giving what `model` gives for the whole."""
    parts: _Layers = model.music_layers
    timed = [name for name in input_names(model) if name not in (*PIECE_KEYS, POSITION_KEY)]
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in timed}
    inputs |= piece_inputs(parts) | position_input(parts.position is not None, (None, 3))
    states = []
    for i, lstm in enumerate(parts.recurrent()):
        states += [keras.Input(shape=(lstm.units,), name=f"state_{i}_{k}") for k in "hc"]
    context, final = parts.trunk_context(inputs, states)
    given = {s: inputs[given_key(s)] for s in parts.streams if given_key(s) in inputs}
    outputs = {s: parts.head(s, context, given) for s in parts.streams}
    return keras.Model(inputs=[inputs, states], outputs=[outputs, final], name="lstm_music_segment")


def input_names(model: keras.Model) -> list[str]:
    """The names of the sequence model's inputs, for `vocab.model_inputs`."""
    return [tensor.name for tensor in model.inputs]


def state_sizes(model: keras.Model) -> list[int]:
    """The width of every recurrent state tensor the step model takes, in order."""
    return [lstm.units for lstm in model.music_layers.recurrent() for _ in "hc"]


class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse cross-entropy with label smoothing (Keras' sparse loss has no smoothing option)."""

    def __init__(self, label_smoothing: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        """Smoothed cross-entropy of integer targets against softmax outputs, per position."""
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)


def compile_model(
    model: keras.Model,
    learning_rate: float = 2e-3,
    loss_weights: dict[str, float] | None = None,
    label_smoothing: float = 0.0,
) -> keras.Model:
    """Compile with Adam, per-head sparse cross-entropy (optionally smoothed) and per-head accuracy.

    Each loss is the mean over real positions (``mean_with_sample_weight``): padded positions carry
    sample weight 0 and count in neither the numerator nor the denominator, so short pieces neither
    shrink the reported loss nor the gradient.
    """
    reduction = "mean_with_sample_weight"
    streams = model.music_layers.streams
    if label_smoothing > 0:
        losses = {s: SmoothedSparseCrossentropy(label_smoothing, reduction=reduction) for s in streams}
    else:
        losses = {s: keras.losses.SparseCategoricalCrossentropy(reduction=reduction) for s in streams}
    weights = loss_weights or {}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
        loss=losses,
        loss_weights={s: weights.get(s, 1.0) for s in streams},
        weighted_metrics={s: ["accuracy"] for s in streams},
    )
    return model
