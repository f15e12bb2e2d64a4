"""The training run's own Keras callbacks: checkpoints with their repeat weights, the time limit, and
Ctrl-C between batches.

Imported only once Keras is loaded (`training.train`), so `train.py --help` and `--parse-only`
start without it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import keras

from .checkpoint import BEST, LATEST, Metadata, copy_checkpoint, save_checkpoint
from .repeats import fit_weights
from .scoring import target_probabilities


class Checkpointer(keras.callbacks.Callback):
    """Save `best.weights.h5` whenever the monitored loss improves, with the repeat memory's weights
    fitted on the validation pieces (with `keep_all`, also each improvement as
    `epochNNN-<monitor><value>.weights.h5`); and after every epoch `latest.weights.h5` with the
    optimizer's state, which `--resume` continues exactly (an interrupted run loses at most the
    epoch it was in). A run folder thus holds two checkpoints, however long it trains."""

    def __init__(
        self,
        run_dir: Path,
        metadata: Metadata,
        monitor: str,
        val,
        val_styles: list[int],
        same_onset: dict,
        keep_all: bool = False,
    ) -> None:
        super().__init__()
        self.keep_all = keep_all
        self.run_dir, self.metadata, self.monitor = run_dir, metadata, monitor
        self.val, self.val_styles, self.same_onset = val, val_styles, same_onset  # val: `encoded.Encoded`
        self.best = float("inf")
        self.best_path: Path | None = None
        self.best_epoch = 0
        self.repeat_weights: dict | None = None  # the best checkpoint's, kept in the latest too

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = float(logs.get(self.monitor, float("inf")))
        info = replace(self.metadata, epoch=epoch + 1, metrics={k: float(v) for k, v in logs.items()})
        if value < self.best:
            self.best = value
            if self.val.rows:  # how much of each head to copy from the piece's own earlier phrases
                rows, positions = self.val
                probabilities = target_probabilities(self.model, rows, styles=self.val_styles, positions=positions)[0]
                order = self.model.music_layers.order
                self.repeat_weights = fit_weights(rows, probabilities, self.same_onset, order)
            info.repeat_weights = self.repeat_weights
            if self.keep_all:
                name = f"epoch{epoch + 1:03d}-{self.monitor}{value:.4f}.weights.h5"
                path = save_checkpoint(self.model, self.run_dir / name, info)
                copy_checkpoint(path, self.run_dir / BEST)  # the same file: built once
            else:
                path = save_checkpoint(self.model, self.run_dir / BEST, info)
            self.best_path, self.best_epoch = path, epoch + 1
        info.repeat_weights = self.repeat_weights
        save_checkpoint(self.model, self.run_dir / LATEST, info, optimizer=True)


class TimeLimit(keras.callbacks.Callback):
    """Stop cleanly once `minutes` have passed, checked after every batch (the current epoch is
    then validated and saved, so no work is lost). With several processes, `agree` gives every
    process process 0's decision, so that all stop at the same batch."""

    def __init__(self, minutes: float, agree: Callable[[bool], bool] = bool) -> None:
        super().__init__()
        self.minutes, self.agree = minutes, agree
        self.deadline = time.monotonic() + minutes * 60 if minutes > 0 else float("inf")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.minutes > 0 and self.agree(time.monotonic() > self.deadline) and not self.model.stop_training:
            print(f"\ntime limit of {self.minutes} minutes reached: stopping")
            self.model.stop_training = True


class BetweenBatches(keras.callbacks.Callback):
    """Within `with`, Ctrl-C stops the run between batches: the signal only sets a flag, and the next
    batch's end (training or validation) raises `KeyboardInterrupt` there. Raised anywhere else it can
    land inside TensorFlow's graph tracing, whose context managers it breaks ("Nesting violated"
    instead of the interrupt), or halfway through writing a checkpoint. A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed, self.previous = False, None

    def __enter__(self) -> BetweenBatches:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self.previous = signal.signal(signal.SIGINT, self.on_signal)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def on_signal(self, signum: int, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def stop_if_pressed(self, *args, **kwargs) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_begin = on_epoch_end = stop_if_pressed
