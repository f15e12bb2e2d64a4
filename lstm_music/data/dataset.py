"""Sequence-to-sequence training windows, built lazily from per-piece integer arrays.

A window starting at row ``t`` of a piece feeds rows ``[t, t+L)`` and asks for rows
``[t+1, t+L]``: a target at every position, so each window trains L predictions (a model with
conditioned heads is also given rows ``[t+1, t+L]`` of the streams its later heads see). Windows never
cross from one piece into the next. A piece shorter than a window is padded, and its padded
positions carry sample weight 0. Only the integer arrays are read (training gives views of its
memory-mapped `train_rows.npy`, so a corpus larger than memory stays on disk); each batch is
sliced from them when Keras asks for it.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from ..streams import REGISTER_KEY, START_INDEX, STREAMS, input_key, model_inputs, piece_register, streams_of
from .meter import OFF_GRID

UNKNOWN_PLACE = (0, 0, OFF_GRID)  # a place in the bar that says nothing: time signature <unk>, off the grid


def window_starts(rows: int, length: int, stride: int) -> list[int]:
    """Start rows of the windows over a piece of `rows` rows (the `<start>` row included).

    Windows start every `stride` rows; a last window is added so that the piece's end is covered.
    A piece too short for one full window gets one (padded) window at 0.
    """
    last = rows - length - 1
    if last <= 0:
        return [0]
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


class WindowDataset(keras.utils.PyDataset):
    """Batches of ``(inputs, targets, sample_weight)`` dicts keyed by stream, built on demand.

    `names` are the model's inputs (`model.input_names`); by default the three streams' inputs.
    A model with styles reads each piece's index in `styles`, replaced by 0 (none) in a share
    `style_dropout` of the windows, so that the model also learns the unlabelled mix. A share
    `cold_starts` of the windows that start inside a piece read ``<start>`` as their first event, so
    that how a piece of each style opens is learned from all of its windows, not from its few first
    ones (in an uneven collection most openings belong to one style); `weights`
    scale each piece's loss (small styles weigh more: `styles.balance_weights`). With `positions`
    (the rows' places in their bars, for a model that reads meter), a share `meter_dropout` of the
    windows is shown with no place known (`UNKNOWN_PLACE`), so that the model does not lean on the
    meter alone.
    """

    def __init__(
        self,
        arrays: list[np.ndarray],
        length: int,
        batch_size: int,
        stride: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        names: list[str] | None = None,
        styles: list[int] | None = None,
        style_dropout: float = 0.0,
        cold_starts: float = 0.0,
        weights: list[float] | None = None,
        epoch: int = 0,
        multiple: int = 1,
        part: tuple[int, int] = (0, 1),
        positions: list[np.ndarray] | None = None,
        meter_dropout: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        usable = [i for i, a in enumerate(arrays) if len(a) >= 2]
        self.arrays = [arrays[i] for i in usable]
        self.positions = [positions[i] for i in usable] if positions is not None else None
        self.meter_dropout = meter_dropout
        self.styles = np.asarray([styles[i] for i in usable] if styles else [0] * len(usable), dtype=np.int32)
        self.weights = np.asarray([weights[i] for i in usable] if weights else [1.0] * len(usable), dtype=np.float32)
        self.style_dropout = style_dropout
        self.cold_starts = cold_starts
        self.seed = seed
        self.epoch = epoch  # a resumed run starts at its checkpoint's epoch, so it sees the batches it would have
        self.streams = streams_of(arrays[0].shape[1]) if arrays else STREAMS
        self.length = length
        self.batch_size = batch_size
        stride = stride or max(1, length // 2)
        self.windows = np.array(
            [(i, s) for i, a in enumerate(self.arrays) for s in window_starts(len(a), length, stride)], dtype=np.int64
        ).reshape(-1, 2)
        self.names = names or [input_key(s) for s in STREAMS]
        # a model conditioned on register reads each piece's own (vocab.piece_register) in every window
        self.registers = np.stack([piece_register(a) for a in self.arrays]) if REGISTER_KEY in self.names else None
        self.shuffle = shuffle
        self.order = self._order()
        self.multiple = multiple  # data-parallel replicas: a batch is padded to a multiple of them
        self.part = part  # (index, count) of processes training together: each feeds its share of every batch

    def _order(self) -> np.ndarray:
        """The windows' order in this epoch: a permutation drawn from (seed, epoch) alone."""
        if not self.shuffle:
            return np.arange(len(self.windows))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.windows))

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.windows) / self.batch_size)

    @property
    def targets(self) -> int:
        """Number of real (unpadded) target positions in one pass over the data."""
        return int(sum(min(self.length, len(self.arrays[i]) - 1 - s) for i, s in self.windows))

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int):
        chosen = self.windows[self.order[index * self.batch_size : (index + 1) * self.batch_size]]
        block = np.zeros((len(chosen), self.length + 1, len(self.streams)), dtype=np.int32)
        weight = np.zeros((len(chosen), self.length), dtype=np.float32)
        places = None if self.positions is None else np.zeros((*block.shape[:2], 3), dtype=np.int32)
        for row, (piece, start) in enumerate(chosen):
            part = self.arrays[piece][start : start + self.length + 1]
            block[row, : len(part)] = part
            weight[row, : len(part) - 1] = self.weights[piece]
            if places is not None:
                places[row, : len(part)] = self.positions[piece][start : start + self.length + 1]
        if self.cold_starts:  # drawn apart from the style dropout's numbers, so that both stay as they were
            drawn = np.random.default_rng([self.seed, self.epoch, index, 1]).random(len(chosen))
            block[(chosen[:, 1] > 0) & (drawn < self.cold_starts), 0] = START_INDEX
        styles = self.styles[chosen[:, 0]]
        if self.style_dropout:  # the same windows lose their label whenever this batch is built in this epoch
            dropped = np.random.default_rng([self.seed, self.epoch, index]).random(len(chosen)) < self.style_dropout
            styles = np.where(dropped, 0, styles)
        if places is not None and self.meter_dropout:  # these windows do not know where the bar is
            hidden = np.random.default_rng([self.seed, self.epoch, index, 2]).random(len(chosen)) < self.meter_dropout
            places[hidden] = UNKNOWN_PLACE
        registers = None if self.registers is None else self.registers[chosen[:, 0]]
        short = -len(chosen) % self.multiple  # rows of weight 0: in neither the loss nor its mean
        if short:
            block = np.concatenate([block, np.zeros((short, *block.shape[1:]), dtype=block.dtype)])
            weight = np.concatenate([weight, np.zeros((short, self.length), dtype=weight.dtype)])
            styles = np.concatenate([styles, np.zeros(short, dtype=styles.dtype)])
            if registers is not None:
                registers = np.concatenate([registers, np.full((short, 2), 60.0, dtype=registers.dtype)])
            if places is not None:
                places = np.concatenate([places, np.zeros((short, *places.shape[1:]), dtype=places.dtype)])
        process, count = self.part
        if count > 1:  # this process's rows of the global batch (a multiple of every process's devices)
            share = slice(process * len(block) // count, (process + 1) * len(block) // count)
            block, weight, styles = block[share], weight[share], styles[share]
            registers = None if registers is None else registers[share]
            places = None if places is None else places[share]
        inputs = model_inputs(block, self.names, registers, styles, places)
        targets = {s: block[:, 1:, i] for i, s in enumerate(self.streams)}
        return inputs, targets, weight

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
