"""The training run behind `train.py`: data, model, `fit` with checkpoint and stopping callbacks.

Keras is imported only by `train`, so `--parse-only` and `--help` start without it.
"""

from __future__ import annotations

import csv
import statistics
import sys
import time
from argparse import Namespace
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .backend import import_keras
from .cli import SettingError
from .corpus import PARSER_SETTINGS, Corpus, load_corpus, parser_difference
from .files import reason, remove_stale
from .instruments import instrument_name
from .midi_io import Piece
from .repeats import fit_weights
from .styles import (
    NONE,
    balance_weights,
    describe_styles,
    keep_styles,
    label_pieces,
    read_style_table,
    style_counts,
    style_index,
)
from .vocab import (
    ALL_STREAMS,
    INSTRUMENT,
    augment,
    build_vocabularies,
    encode_piece,
    instruments_used,
    piece_register,
    prepare,
    split_pieces,
    together_index,
    unknown_notes,
    vocabularies_to_json,
)

if TYPE_CHECKING:
    from .model import ModelConfig


def precision_problem(precision: str, backend: str, platforms: set[str]) -> str | None:
    """Why `precision` cannot train on `backend` with devices of `platforms`, or None.

    Keras' JAX backend runs LSTMs on a GPU through cuDNN (`jax.experimental.rnn`), whose lowering
    accepts float32 only: half precision fails at the first batch with a long traceback.
    """
    if precision != "float32" and backend == "jax" and "gpu" in platforms:
        return (
            f"--precision {precision}: Keras' JAX backend runs LSTMs on a GPU through cuDNN in float32 only; "
            "use --precision float32 or KERAS_BACKEND=tensorflow"
        )
    return None


def jax_platforms() -> set[str]:
    """The platforms ("cpu", "gpu", ...) of JAX's devices; empty under another Keras backend."""
    import keras

    if keras.backend.backend() != "jax":
        return set()
    import jax

    return {device.platform for device in jax.devices()}


def read_data(args: Namespace) -> Corpus:
    """Parse (or read from the cache) every piece in `args.data`; print the one-line summary."""
    if args.drums and args.instruments == "merge":
        raise SettingError("--drums needs an instrument stream: it cannot be used with --instruments merge")
    table = None if args.styles in ("folders", "none") else read_style_table(args.styles)
    cache = None if args.no_cache else args.cache_dir
    corpus = load_corpus(args.data, cache, args.workers or None, drums=args.drums)
    print(corpus.summary())
    if args.styles != "none":  # each piece's style, from its folder or the table
        corpus.pieces, dropped = keep_styles(label_pieces(corpus.pieces, args.data, table), args.min_style_pieces)
        print(describe_styles(corpus.pieces, dropped))
    return corpus


def learns_instruments(mode: str, pieces: list[Piece]) -> bool:
    """Whether a model for `pieces` gets an instrument stream: always with ``"separate"``, never with
    ``"merge"``, and with ``"auto"`` when the pieces use more than one instrument."""
    return mode == "separate" or (mode == "auto" and len(instruments_used(pieces)) > 1)


def describe_instruments(pieces: list[Piece], learned: bool) -> str:
    """One line: the instruments of `pieces` with their share of events, and whether they are learned."""
    counts = instruments_used(pieces)
    total = max(1, sum(counts.values()))
    listed = ", ".join(f"{instrument_name(t)} {n / total:.0%}" for t, n in list(counts.items())[:12])
    more = f" and {len(counts) - 12} more" if len(counts) > 12 else ""
    how = "learned as a fourth stream" if learned else "merged into one"
    return f"instruments ({len(counts)}, {how}): {listed}{more}"


def parse_only(args: Namespace) -> None:
    """Print the corpus summary and the size of each vocabulary (built on the training split)."""
    corpus = read_data(args)
    train, validation = split_pieces(corpus.pieces, args.val_fraction, args.seed)
    common_key = args.key == "common"
    instruments = learns_instruments(args.instruments, corpus.pieces)
    print(describe_instruments(corpus.pieces, instruments))
    seen = augment(prepare(train, args.representation, common_key, instruments), args.transpose)
    vocabularies = build_vocabularies(seen, args.min_count, args.representation, instruments)
    sizes = ", ".join(f"{s} {len(v)}" for s, v in vocabularies.items())
    print(f"pieces: {len(train)} train, {len(validation)} validation; vocabulary sizes: {sizes}")
    if validation:
        counts = unknown_notes(prepare(validation, args.representation, common_key, instruments), vocabularies)
        print(
            f"validation notes outside the vocabularies: {counts['pitch'] / counts['notes']:.1%} by pitch, "
            f"{counts['rhythm'] / counts['notes']:.1%} by rhythm"
        )


def run_name(args: Namespace) -> str:
    """The run folder name: `--run-name`, else the date, time and preset."""
    return args.run_name or f"{datetime.now():%Y%m%d-%H%M%S}-{args.preset}"


def model_config(args: Namespace) -> ModelConfig:
    """The preset's sizes with any size flags applied on top."""
    from .model import PRESETS

    overrides = {
        "embedding": args.embedding,
        "branch_units": args.branch_units,
        "trunk_units": args.trunk_units,
        "dense_units": args.dense_units,
        "head_units": args.head_units,
        "dropout": args.dropout,
        "conditioned": None if args.heads is None else args.heads == "conditioned",
        "instrument_first": args.instrument_first,
    }
    return replace(PRESETS[args.preset], **{k: v for k, v in overrides.items() if v is not None})


def train(args: Namespace, extra_callbacks: list | None = None) -> Path:
    """Train as `args` says; return the path of the best checkpoint."""
    keras = import_keras()

    from .checkpoint import BEST, CheckpointError, load_checkpoint, read_metadata, save_checkpoint, seen_as
    from .dataset import WindowDataset
    from .model import ModelConfig, build_model, compile_model, input_names
    from .scoring import target_probabilities

    run_dir = Path(args.weights_dir) / run_name(args)
    for folder in Path(args.weights_dir).glob("*/"):  # what killed runs left half-written
        remove_stale(folder)
    if (run_dir / BEST).exists():
        raise CheckpointError(
            f"{run_dir} already holds a trained run: choose another --run-name (with --resume {run_dir / BEST} "
            "to continue it)"
        )
    if run_dir.is_dir() and (any(run_dir.glob("*.weights.h5")) or (run_dir / "history.csv").exists()):
        raise CheckpointError(
            f"{run_dir} holds files of an unfinished run (stopped before its best checkpoint was saved): "
            "choose another --run-name or remove that folder"
        )
    problem = precision_problem(args.precision, keras.backend.backend(), jax_platforms())
    if problem:
        raise SettingError(problem)
    if args.resume:  # a resumed run reads its pieces as the checkpoint's did
        args = Namespace(**{**vars(args), "drums": bool(read_metadata(args.resume).get("drums", False))})
    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    corpus = read_data(args)
    train_pieces, val_pieces = split_pieces(corpus.pieces, args.val_fraction, args.seed)
    representation, common_key = args.representation, args.key == "common"
    instruments = learns_instruments(args.instruments, corpus.pieces)
    styles = list(style_counts(corpus.pieces))  # by pieces, most first; index 0 is none
    first_epoch = 0
    if args.resume:
        model, resumed, vocabularies = load_checkpoint(args.resume)
        representation, common_key = seen_as(resumed)
        instruments = INSTRUMENT in vocabularies
        styles = resumed.get("styles", {}).get("names", [])
        config = ModelConfig.from_dict(resumed["model"])
        first_epoch = int(resumed["epoch"])
        difference = parser_difference(resumed.get("parser"))
        if difference:
            print(difference)
    print(describe_instruments(corpus.pieces, instruments))
    train_seen = prepare(train_pieces, representation, common_key, instruments)
    val_seen = prepare(val_pieces, representation, common_key, instruments)
    augmented = augment(train_seen, args.transpose)
    if args.resume:
        counts = unknown_notes(augmented, vocabularies)
        if counts["pitch"] or counts["rhythm"]:
            print(
                f"resume: of {counts['notes']} training notes, {counts['pitch']} have a pitch or chord and "
                f"{counts['rhythm']} a rhythm outside the checkpoint's vocabularies (encoded as <unk>)"
            )
    else:
        vocabularies = build_vocabularies(augmented, args.min_count, representation, instruments)
        note_events = representation == "note"
        config = replace(model_config(args), pitch_embedding=note_events, register=note_events and args.register)
        config = replace(config, styles=len(styles) + 1 if styles else 0)
        model = build_model({s: len(v) for s, v in vocabularies.items()}, config)
    loss_weights = dict(zip(ALL_STREAMS, args.loss_weights, strict=False))  # a fourth weight is the instrument's
    compile_model(model, args.learning_rate, loss_weights, args.label_smoothing)

    train_arrays = [encode_piece(p, vocabularies) for p in augmented]
    val_arrays = [encode_piece(p, vocabularies) for p in val_seen]
    together = together_index(vocabularies, representation)
    names = input_names(model)
    train_styles = [style_index(styles, p.style) for p in augmented]
    val_styles = [style_index(styles, p.style) for p in val_seen]
    weights = balance_weights(augmented, args.style_balance)
    train_data = WindowDataset(
        train_arrays, args.sequence_length, args.batch_size, args.stride or None, True, args.seed, names,
        train_styles, args.style_dropout, weights,
    )  # fmt: skip
    val_data = (
        WindowDataset(
            val_arrays,
            args.sequence_length,
            args.batch_size,
            args.stride or None,
            False,
            names=names,
            styles=val_styles,
        )  # fmt: skip
        if val_arrays
        else None
    )
    monitor = "val_loss" if val_data is not None else "loss"
    if val_data is None:
        print("no validation pieces: checkpoints will have no repeat weights (generation uses the network alone)")

    run_dir.mkdir(parents=True, exist_ok=True)
    tempos = [p.bpm for p in corpus.pieces if p.bpm]
    metadata = {
        "vocabularies": vocabularies_to_json(vocabularies),
        "representation": representation,
        "common_key": common_key,
        "instruments": instruments,  # a fourth stream (its vocabulary is in "vocabularies")
        "styles": {
            "names": styles,  # style index i + 1; 0 is none
            "pieces": {
                s: sum(style_index(styles, p.style) == i for p in train_pieces) for i, s in enumerate([NONE, *styles])
            },
        },
        "drums": args.drums,
        "model": config.to_dict(),
        "preset": args.preset,
        "sequence_length": args.sequence_length,
        "parser": PARSER_SETTINGS,
        "min_count": args.min_count,
        "median_bpm": statistics.median(tempos) if tempos else None,
        "training": {
            "data": str(args.data),
            "pieces": len(corpus.pieces),
            "train_pieces": [p.path for p in train_pieces],
            "validation_pieces": [p.path for p in val_pieces],
            "events": corpus.events,
            "transpose": args.transpose,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "loss_weights": list(args.loss_weights),
            "label_smoothing": args.label_smoothing,
            "precision": args.precision,
            "resumed_from": str(args.resume) if args.resume else None,
        },
    }
    seen_arrays = train_arrays[: len(train_seen)]  # `augment` keeps the pieces themselves first
    train_rows = np.concatenate(seen_arrays)
    if config.register:  # generation draws each piece's register from these
        metadata["registers"] = [piece_register(a).round(1).tolist() for a in seen_arrays]
        metadata["register_styles"] = train_styles[: len(seen_arrays)]  # a style's pieces lend it their registers
    print(
        f"model: preset {args.preset}, {model.count_params():,} parameters; "
        f"{len(train_pieces)} train pieces ({train_data.targets:,} targets per epoch), {len(val_pieces)} validation"
    )

    class Checkpointer(keras.callbacks.Callback):
        """Save a checkpoint whenever the monitored loss improves, and keep `best.weights.h5`."""

        def __init__(self) -> None:
            super().__init__()
            self.best = float("inf")
            self.best_path: Path | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            value = float(logs.get(monitor, float("inf")))
            if not value < self.best:
                return
            self.best = value
            info = {**metadata, "epoch": epoch + 1, "metrics": {k: float(v) for k, v in logs.items()}}
            if val_arrays:  # how much of each head to copy from the piece's own earlier phrases
                probabilities = target_probabilities(self.model, val_arrays, styles=val_styles)[0]
                order = self.model.music_layers.order
                info["repeat_weights"] = fit_weights(val_arrays, probabilities, together, order)
            path = save_checkpoint(
                self.model, run_dir / f"epoch{epoch + 1:03d}-{monitor}{value:.4f}.weights.h5", info, train_rows
            )
            save_checkpoint(self.model, run_dir / BEST, info, train_rows)
            self.best_path = path

    class TimeLimit(keras.callbacks.Callback):
        """Stop cleanly after `minutes` of training (the current epoch is validated and saved)."""

        def __init__(self, minutes: float) -> None:
            super().__init__()
            self.deadline = time.monotonic() + minutes * 60 if minutes > 0 else float("inf")

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if time.monotonic() > self.deadline and not self.model.stop_training:
                print(f"\ntime limit of {args.max_minutes} minutes reached: stopping")
                self.model.stop_training = True

    checkpointer = Checkpointer()
    callbacks = [
        checkpointer,
        TimeLimit(args.max_minutes),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: draw_curves(run_dir)),  # after the CSV row
        *([keras.callbacks.EarlyStopping(monitor, patience=args.patience)] if args.patience > 0 else []),
        *(extra_callbacks or []),
    ]
    try:
        model.fit(
            train_data,
            validation_data=val_data,
            epochs=first_epoch + args.epochs,
            initial_epoch=first_epoch,
            callbacks=callbacks,
            shuffle=False,  # WindowDataset shuffles its windows itself, reproducibly from --seed
            verbose=args.progress,
        )
    except KeyboardInterrupt:
        print("\ninterrupted: stopping; the best checkpoint so far is kept", file=sys.stderr)
    except OSError as error:  # history.csv on a full disk or a folder gone: the checkpoints saved so far stay
        kept = "; the best checkpoint so far is kept" if checkpointer.best_path else ""
        raise CheckpointError(f"cannot write in {run_dir}: {reason(error)}{kept}") from None
    if checkpointer.best_path is None:
        raise CheckpointError(f"training stopped before the first epoch ended: no checkpoint in {run_dir}")
    print(
        f"best checkpoint: {run_dir / BEST} ({monitor} {checkpointer.best:.4f}, saved as {checkpointer.best_path.name})"
    )
    return run_dir / BEST


def draw_curves(run_dir: Path) -> None:
    """Redraw `history.png` from `history.csv`; a picture that cannot be drawn never stops training."""
    from .pictures import training_curves

    try:
        training_curves(read_history(run_dir), run_dir / "history.png")
    except (OSError, ValueError, KeyError) as error:
        print(f"history.png not drawn: {reason(error) if isinstance(error, OSError) else error}", file=sys.stderr)


def read_history(run_dir: Path) -> list[dict]:
    """The rows of a run's `history.csv`."""
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))
