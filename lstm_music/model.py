"""The three-branch functional LSTM: note, offset and duration in; one softmax head each out.

Each stream's token indices pass an Embedding and an LSTM branch; the branches are concatenated
and pass a trunk of LSTMs and a shared Dense layer, then split into three heads named ``note``,
``offset`` and ``duration`` that predict the next event at every time step. Only `keras.layers`
and `keras.ops` are used, so the model runs on the TensorFlow, JAX and torch backends; the LSTMs
keep Keras' default activations and no recurrent dropout, so Keras picks the fused cuDNN kernel on
a GPU.

The same layer objects build two graphs: `build_model` (whole sequences, for training and
scoring) and `build_step_model` (one event in, recurrent state in and out, for sampling), so
their weights are shared and a step costs one pass of each layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import keras
from keras import layers, ops

from .vocab import STREAMS, input_key


@dataclass
class ModelConfig:
    """Sizes of the network; `head_units` 0 means the heads are a single softmax Dense layer."""

    embedding: int = 64
    branch_units: int = 128
    trunk_units: list[int] = field(default_factory=lambda: [256])
    dense_units: int = 256
    head_units: int = 0
    batch_norm: bool = False
    dropout: float = 0.3

    def to_dict(self) -> dict:
        """JSON-ready form, stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Inverse of `to_dict`."""
        return cls(**{**data, "trunk_units": list(data["trunk_units"])})


PRESETS: dict[str, ModelConfig] = {
    # The original design's sizes, with embeddings instead of scaled floats.
    "seed": ModelConfig(64, 256, [512, 512], 256, 128, True, 0.3),
    # One epoch of midi_songs/ in about a minute on a 2-core laptop.
    "small": ModelConfig(32, 64, [128], 128, 0, False, 0.1),
    # Best held-out loss per training minute found on CPU (docs/BENCHMARKS.md).
    "default": ModelConfig(64, 128, [256, 256], 256, 128, True, 0.3),
}


class _Layers:
    """Every layer of the network, created once and wired into the sequence and step graphs."""

    def __init__(self, vocab_sizes: dict[str, int], config: ModelConfig) -> None:
        self.embeddings = {
            s: layers.Embedding(vocab_sizes[s], config.embedding, name=f"{s}_embedding") for s in STREAMS
        }
        self.branches = {
            s: layers.LSTM(config.branch_units, return_sequences=True, return_state=True, name=f"{s}_lstm")
            for s in STREAMS
        }
        self.concat = layers.Concatenate(name="merge")
        self.trunk = [
            layers.LSTM(units, return_sequences=True, return_state=True, name=f"trunk_lstm_{i}")
            for i, units in enumerate(config.trunk_units)
        ]
        # dropout between every recurrent stage (not inside the LSTMs, which would rule out cuDNN)
        stages = len(config.trunk_units) + 1
        self.dropouts = [layers.Dropout(config.dropout, name=f"dropout_{i}") for i in range(stages)]
        self.dense = layers.Dense(config.dense_units, activation="relu", name="shared_dense")
        self.heads = {}
        for s in STREAMS:
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

    def recurrent(self) -> list[layers.LSTM]:
        """The LSTM layers in the order their states are passed to and from the step model."""
        return [self.branches[s] for s in STREAMS] + self.trunk

    def wire(self, inputs: dict, states: list | None = None) -> tuple[dict, list]:
        """Connect the layers from `inputs`; return the heads' outputs and the LSTMs' final states."""
        recurrent = self.recurrent()
        initial = (
            [None] * len(recurrent) if states is None else [states[2 * i : 2 * i + 2] for i in range(len(recurrent))]
        )
        final = []
        branches = []
        for i, s in enumerate(STREAMS):
            out, h, c = self.branches[s](self.embeddings[s](inputs[input_key(s)]), initial_state=initial[i])
            branches.append(out)
            final += [h, c]
        x = self.concat(branches)
        for j, lstm in enumerate(self.trunk):
            x, h, c = lstm(self.dropouts[j](x), initial_state=initial[len(STREAMS) + j])
            final += [h, c]
        x = self.dense(self.dropouts[-1](x))
        outputs = {}
        for s in STREAMS:
            y = x
            for layer in self.heads[s]:
                y = layer(y)
            outputs[s] = y
        return outputs, final


def build_model(vocab_sizes: dict[str, int], config: ModelConfig) -> keras.Model:
    """The sequence model: three (batch, time) index inputs -> three (batch, time, vocab) softmaxes.

    The built model keeps its layers in `model.music_layers` so `build_step_model` can share them.
    """
    parts = _Layers(vocab_sizes, config)
    inputs = {input_key(s): keras.Input(shape=(None,), dtype="int32", name=input_key(s)) for s in STREAMS}
    outputs, _ = parts.wire(inputs)
    model = keras.Model(inputs=inputs, outputs=outputs, name="lstm_music")
    model.music_layers = parts
    return model


def build_step_model(model: keras.Model) -> keras.Model:
    """A model sharing `model`'s weights that advances one event: (tokens, states) -> (probs, states).

    Inputs are three (batch, 1) index tensors and the (h, c) pair of every LSTM in
    `_Layers.recurrent` order; outputs are the three (batch, 1, vocab) softmaxes and the new states.
    """
    parts: _Layers = model.music_layers
    inputs = {input_key(s): keras.Input(shape=(1,), dtype="int32", name=input_key(s)) for s in STREAMS}
    states = []
    for i, lstm in enumerate(parts.recurrent()):
        states += [keras.Input(shape=(lstm.units,), name=f"state_{i}_{k}") for k in "hc"]
    outputs, final = parts.wire(inputs, states)
    return keras.Model(inputs=[inputs, states], outputs=[outputs, final], name="lstm_music_step")


def state_sizes(model: keras.Model) -> list[int]:
    """The width of every recurrent state tensor the step model takes, in order."""
    return [lstm.units for lstm in model.music_layers.recurrent() for _ in "hc"]


def smoothed_sparse_crossentropy(label_smoothing: float) -> Callable:
    """Sparse cross-entropy with label smoothing (Keras' sparse loss has no smoothing option)."""

    def loss(y_true, y_pred):
        """Smoothed cross-entropy of integer targets against softmax outputs."""
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=label_smoothing)

    return loss


def compile_model(
    model: keras.Model,
    learning_rate: float = 2e-3,
    loss_weights: dict[str, float] | None = None,
    label_smoothing: float = 0.0,
) -> keras.Model:
    """Compile with Adam, per-head sparse cross-entropy (optionally smoothed) and per-head accuracy."""
    if label_smoothing > 0:
        losses = {s: smoothed_sparse_crossentropy(label_smoothing) for s in STREAMS}
    else:
        losses = {s: keras.losses.SparseCategoricalCrossentropy() for s in STREAMS}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
        loss=losses,
        loss_weights=loss_weights or {s: 1.0 for s in STREAMS},
        weighted_metrics={s: ["accuracy"] for s in STREAMS},
    )
    return model
