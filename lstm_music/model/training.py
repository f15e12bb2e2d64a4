"""The training run behind `train.py`: data, model, `fit` with checkpoint and stopping callbacks.

Keras is imported only by `train`, so `--parse-only` and `--help` start without it.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..backend import agreed, data_parallel, import_keras, process_part, quiet
from ..cli import SettingError
from ..data.corpus import PARSER_SETTINGS, Corpus, parser_difference
from ..data.events import Piece
from ..data.instruments import PIANO, instrument_plan
from ..data.meter import main_meter
from ..data.notes import events_span
from ..data.preparation import prepared, shifts, split_pieces
from ..data.reading import describe_instruments, read_data
from ..data.styles import (
    NONE,
    balance_weights,
    style_counts,
    style_index,
)
from ..data.vocab import (
    Census,
    build_vocabularies,
    count_tokens,
    instruments_used,
    meter_vocabulary,
    same_onset_index,
    unknown_notes,
    vocabularies_to_json,
)
from ..files import reason, scratch_prefix
from ..streams import ALL_STREAMS, INSTRUMENT, piece_register, register_margins
from .encoded import Encoded, encode_split, temporary_rows
from .from_checkpoint import fine_tuning_settings, grown_styles, start_path, transfer
from .run_folder import claim_run_dir, forget_run, release_run_dir

if TYPE_CHECKING:
    from ..settings import TrainSettings
    from .checkpoint import Metadata
    from .network import ModelConfig


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


def model_config(settings: TrainSettings) -> ModelConfig:
    """The preset's sizes with any size flags applied on top."""
    from .network import PRESETS

    sizes = ("embedding", "branch_units", "trunk_units", "dense_units", "head_units", "dropout", "instrument_first")
    overrides = {name: getattr(settings, name) for name in sizes}
    overrides["conditioned"] = None if settings.heads is None else settings.heads == "conditioned"
    return replace(PRESETS[settings.preset], **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Plan:
    """What a run learns: decided from the flags, or taken from the checkpoint it resumes."""

    representation: str
    common_key: bool
    instruments: bool
    styles: list[str]  # by pieces, most first; a piece's style index is its place here + 1 (0: none)
    plays_as: dict[int, int] = field(default_factory=dict)  # rare instruments played as others
    plays: int = PIANO  # the most common instrument: what a model without the instrument stream plays on
    preset: str = "default"  # the preset the model was made with (a resumed run's is its checkpoint's)
    meters: list[str] = field(default_factory=list)  # the time signatures the model reads (none: no meter input)
    first_epoch: int = 0
    resumed: tuple | None = None  # (model, metadata, vocabularies) of --resume

    def seen(self, pieces: list[Piece], semitones: list[int]) -> Iterator[Piece]:
        """`pieces` as the model sees them, one at a time, moved by each of `semitones` in turn (`prepared`)."""
        return prepared(pieces, self.representation, self.common_key, self.instruments, semitones, self.plays_as)


def plan_run(settings: TrainSettings, corpus: Corpus, counts: dict[int, int], resumed: Metadata | None) -> Plan:
    """The representation, key, instrument stream and styles of the run, whose instruments play
    `counts` notes: a run from a checkpoint keeps its checkpoint's (`resumed`: its metadata; and
    says if the checkpoint's pieces were parsed otherwise), adding the folder's styles if it fine-tunes."""
    from .checkpoint import load_checkpoint

    most = next(iter(counts), PIANO)
    if resumed is None:
        instruments, plays_as = instrument_plan(counts, settings.instruments)
        styles = list(style_counts(corpus.pieces))
        return Plan(
            settings.representation, settings.key == "common", instruments, styles, plays_as, most, settings.preset
        )
    model, metadata, vocabularies = load_checkpoint(start_path(settings), resumed)
    difference = parser_difference(metadata.parser)
    if difference:
        print(difference)
    if settings.init_from:  # a new run: the folder's styles and instrument, from epoch 0
        styles, plays, first_epoch = grown_styles(metadata.styles, corpus.pieces), most, 0
    else:
        styles, plays, first_epoch = metadata.styles, metadata.plays, metadata.epoch
    return Plan(
        metadata.representation, metadata.common_key, INSTRUMENT in vocabularies, styles, metadata.plays_as, plays,
        metadata.preset or "custom", metadata.meters, first_epoch, (model, metadata, vocabularies),
    )  # fmt: skip


def make_model(settings: TrainSettings, plan: Plan, census: Census, pieces: Callable[[], Iterator[Piece]]):
    """The compiled model, its configuration and vocabularies: the resumed checkpoint's (saying how
    many of the training `pieces` notes it cannot represent), or new ones built on the training `census`."""
    from .network import ModelConfig, build_model, compile_model

    start = "init-from" if settings.init_from else "resume"
    if plan.resumed:
        model, metadata, vocabularies = plan.resumed
        config = ModelConfig.from_dict(metadata.model)
        styles = len(plan.styles) + 1 if plan.styles else 0
        if config.styles != styles:  # fine-tuning on a folder with styles of its own: rows that start as none
            config = replace(config, styles=styles)
            model, source = build_model({s: len(v) for s, v in vocabularies.items()}, config), model
            transfer(source, model)
            new = plan.styles[len(metadata.styles) :]
            print(f"{start}: {len(new)} new style{'s' * (len(new) != 1)} from this folder ({', '.join(new)})")
        counts = unknown_notes(pieces(), vocabularies)
        if counts["pitch"] or counts["rhythm"]:
            print(
                f"{start}: of {counts['notes']} training notes, {counts['pitch']} have a pitch or chord and "
                f"{counts['rhythm']} a rhythm outside the checkpoint's vocabularies (encoded as <unk>)"
            )
    else:
        vocabularies = build_vocabularies(census, settings.min_count, plan.representation, plan.instruments)
        note_events = plan.representation == "note"
        config = replace(
            model_config(settings), pitch_embedding=note_events, register=note_events and settings.register
        )
        config = replace(config, styles=len(plan.styles) + 1 if plan.styles else 0, meters=len(plan.meters))
        model = build_model({s: len(v) for s, v in vocabularies.items()}, config)
    loss_weights = dict(zip(ALL_STREAMS, settings.loss_weights, strict=False))  # a fourth weight is the instrument's
    compile_model(model, settings.learning_rate, loss_weights, settings.label_smoothing)
    if plan.resumed and not settings.init_from:  # fine-tuning starts a fresh optimizer
        from .checkpoint import LATEST, restore_optimizer

        if restore_optimizer(model, settings.resume):
            print(f"resume: the optimizer continues from step {int(model.optimizer.iterations.numpy())}")
        else:
            print(
                f"resume: {settings.resume} holds no optimizer state (weights only): continuing with a fresh optimizer "
                f"(resume from a run's {LATEST} to continue exactly)"
            )
    return model, config, vocabularies


def run_metadata(
    settings: TrainSettings, corpus: Corpus, split: tuple, plan: Plan, config, vocabularies: dict
) -> Metadata:
    """What every checkpoint of the run records besides its epoch, metrics and repeat weights."""
    from .checkpoint import Metadata

    train_pieces, val_pieces = split
    tempos = [p.bpm for p in corpus.pieces if p.bpm]
    indices = [style_index(plan.styles, p.style) for p in train_pieces]
    pieces = {name: indices.count(i) for i, name in enumerate([NONE, *plan.styles])}
    return Metadata(
        vocabularies=vocabularies_to_json(vocabularies),
        model=config.to_dict(),
        representation=plan.representation,
        common_key=plan.common_key,
        instruments=plan.instruments,
        plays_as=plan.plays_as,
        plays=plan.plays,
        meters=plan.meters,
        piece_meters=[main_meter(p.meters, events_span(p.events)).token for p in train_pieces],
        styles=plan.styles,
        style_pieces=pieces,
        drums=settings.drums,
        preset=plan.preset,
        sequence_length=settings.sequence_length,
        parser=PARSER_SETTINGS,
        min_count=settings.min_count,
        median_bpm=statistics.median(tempos) if tempos else None,
        training={
            "data": str(settings.data),
            "pieces": len(corpus.pieces),
            "train_pieces": [p.path for p in train_pieces],
            "train_styles": indices,  # each training piece's style index, in the order of train_pieces
            "validation_pieces": [p.path for p in val_pieces],
            "events": corpus.events,
            "transpose": settings.transpose,
            "seed": settings.seed,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
            "loss_weights": list(settings.loss_weights),
            "label_smoothing": settings.label_smoothing,
            "precision": settings.precision,
            "resumed_from": str(settings.resume) if settings.resume else None,
            "init_from": str(start_path(settings)) if settings.init_from else None,
        },
    )


def windows(
    settings: TrainSettings,
    split: Encoded,
    styles: list[int],
    names: list[str],
    replicas: int,
    weights=None,
    epoch=None,
):
    """The training windows of `split` (given `epoch`: shuffled from the seed and it, with style
    dropout, cold starts where there are styles, and `weights`) or, without, the validation windows;
    batches padded to `replicas` rows, of which this process feeds its share (`backend.process_part`)."""
    from ..data.dataset import WindowDataset

    shape = (split.rows, settings.sequence_length, settings.batch_size, settings.stride or None)
    if epoch is not None:
        openings = settings.style_openings if any(styles) else 0.0
        return WindowDataset(
            *shape, True, settings.seed, names, styles, settings.style_dropout, openings, weights, epoch, replicas,
            process_part(), split.positions, settings.meter_dropout,
        )  # fmt: skip
    return WindowDataset(
        *shape, False, names=names, styles=styles, multiple=replicas, part=process_part(), positions=split.positions
    )


def set_up(settings: TrainSettings, resumed: Metadata | None) -> TrainSettings:
    """Check the precision against the backend, then set it and the seed; return `settings`, with a
    resumed run's drums setting taken from its checkpoint's metadata `resumed` (it reads its pieces
    as that run did)."""
    import keras

    problem = precision_problem(settings.precision, keras.backend.backend(), jax_platforms())
    if problem:
        raise SettingError(problem)
    if resumed is not None:
        settings = replace(fine_tuning_settings(settings), drums=resumed.drums)
    keras.mixed_precision.set_global_policy(settings.precision)
    with quiet():  # under JAX this is where TensorFlow loads, if installed, to be seeded too
        keras.utils.set_random_seed(settings.seed)
    return settings


def train(settings: TrainSettings, extra_callbacks: list | None = None, resumed: Metadata | None = None) -> Path | None:
    """Train as `settings` says; return the path of the best checkpoint (None in a process other than
    process 0 of several, which trains the same model and writes nothing that stays). A run that
    ends before its first checkpoint (Ctrl-C, a full disk) leaves nothing that blocks its name.
    `resumed`: the metadata of `--resume` or `--init-from` where `check_start` has read it."""
    import_keras()
    from .checkpoint import BEST, read_metadata

    if (settings.resume or settings.init_from) and resumed is None:
        resumed = read_metadata(start_path(settings))

    other_process = process_part()[0]  # process 0 alone writes the run; another its own copy in a scratch folder
    if other_process:
        run_dir, lock = Path(tempfile.mkdtemp(prefix=scratch_prefix(f"lstm-music-process{other_process}"))), None
    else:  # a default run name says the preset of the model it trains: a resumed one's is its checkpoint's
        preset = (resumed.preset or "custom") if resumed else settings.preset
        run_dir, lock = claim_run_dir(Path(settings.weights_dir), settings.run_name, preset)
    try:
        return train_in(run_dir, settings, extra_callbacks or [], resumed)
    except BaseException:
        if not other_process and not (run_dir / BEST).exists():
            forget_run(run_dir)
        raise
    finally:  # the memory-mapped transpositions and positions stay readable until they are let go
        for what in ("transposed", "positions"):
            temporary_rows(run_dir, what).unlink(missing_ok=True)
        if other_process:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            release_run_dir(run_dir, lock)


def train_in(run_dir: Path, settings: TrainSettings, extra_callbacks: list, resumed: Metadata | None) -> Path | None:
    """`train` in the run folder `run_dir`, which it holds."""
    from .callbacks import Checkpointer
    from .network import input_names

    settings = set_up(settings, resumed)
    corpus = read_data(settings, in_memory=False)
    split = split_pieces(corpus.pieces, settings.val_fraction, settings.seed)
    scope, replicas = data_parallel(settings.distribute)
    with scope:  # the model and its optimizer are made where they will train
        counts = instruments_used(corpus.pieces)
        plan = plan_run(settings, corpus, counts, resumed)
        if settings.meter and not plan.resumed:
            plan.meters = meter_vocabulary(split[0]).tokens
        print(describe_instruments(counts, plan.instruments, plan.plays_as))
        semitones = [0, *shifts(settings.transpose)]  # the pieces themselves first, then their transpositions
        census = count_tokens(plan.seen(split[0], semitones))
        model, config, vocabularies = make_model(settings, plan, census, lambda: plan.seen(split[0], semitones))
    metadata = run_metadata(settings, corpus, split, plan, config, vocabularies)
    train, seen_arrays, val, metadata.train_rows = encode_split(run_dir, plan, split, census, vocabularies, semitones)
    train_styles = [style_index(plan.styles, style) for style in census.styles]
    val_styles = [style_index(plan.styles, p.style) for p in split[1]]
    names = input_names(model)
    weights = balance_weights(census.styles, census.sizes, settings.style_balance)
    train_data = windows(settings, train, train_styles, names, replicas, weights, plan.first_epoch)
    val_data = windows(settings, val, val_styles, names, replicas) if val.rows else None
    monitor = "val_loss" if val_data is not None else "loss"
    if val_data is None:
        print("no validation pieces: checkpoints will have no repeat weights (generation uses the network alone)")
    if config.register:  # generation draws each piece's register from these
        metadata.registers = [piece_register(a).round(1).tolist() for a in seen_arrays]
        metadata.register_styles = train_styles[: len(seen_arrays)]  # a style's pieces lend it their registers
        if not settings.drums:  # a drum's number is a sound, not a pitch: no window
            metadata.register_margins = register_margins(seen_arrays)
    print(
        f"model: preset {plan.preset}, {model.count_params():,} parameters; {len(split[0])} train pieces "
        f"({train_data.targets:,} targets per epoch), {len(split[1])} validation"
    )
    same_onset = same_onset_index(vocabularies, plan.representation)
    checkpointer = Checkpointer(run_dir, metadata, monitor, val, val_styles, same_onset, settings.keep_all)
    best = fit(model, settings, plan.first_epoch, (train_data, val_data), checkpointer, extra_callbacks)
    return None if process_part()[0] else best


def fit(model, settings: TrainSettings, first_epoch: int, data: tuple, checkpointer, extra_callbacks: list) -> Path:
    """Run Keras' `fit` with the checkpoint, time-limit, history and early-stopping callbacks; on
    Ctrl-C or a write failure keep what was saved; return the best checkpoint's path."""
    import keras

    from .callbacks import BetweenBatches, TimeLimit
    from .checkpoint import BEST, CheckpointError

    run_dir, monitor = checkpointer.run_dir, checkpointer.monitor
    callbacks = [
        checkpointer,
        TimeLimit(settings.max_minutes, agreed),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: draw_curves(run_dir)),  # after the CSV row
        *([keras.callbacks.EarlyStopping(monitor, patience=settings.patience)] if settings.patience > 0 else []),
        *extra_callbacks,
    ]
    hidden = quiet() if settings.distribute else contextlib.nullcontext()  # tf.distribute's C++ notices while it trains
    between = BetweenBatches()
    try:
        with hidden, between:
            model.fit(
                data[0],
                validation_data=data[1],
                epochs=first_epoch + settings.epochs,
                initial_epoch=first_epoch,
                callbacks=[*callbacks, between],
                shuffle=False,  # WindowDataset shuffles its windows itself, reproducibly from --seed
                verbose=settings.progress if settings.progress is not None else (1 if sys.stdout.isatty() else 2),
            )
    except KeyboardInterrupt:
        if checkpointer.best_path is None:
            raise KeyboardInterrupt("before the first checkpoint: nothing was kept") from None
        print(f"\ninterrupted: stopping; the best checkpoint so far is kept: {run_dir / BEST}", file=sys.stderr)
    except OSError as error:  # history.csv on a full disk or a folder gone: the checkpoints saved so far stay
        kept = "; the best checkpoint so far is kept" if checkpointer.best_path else ""
        raise CheckpointError(f"cannot write in {run_dir}: {reason(error)}{kept}") from None
    if checkpointer.best_path is None:
        raise CheckpointError(f"training stopped before the first epoch ended: no checkpoint, {run_dir} not kept")
    print(
        f"best checkpoint: {run_dir / BEST} ({monitor} {checkpointer.best:.4f}, epoch {checkpointer.best_epoch})"
        if not process_part()[0]
        else f"process {process_part()[0]}: done (process 0 wrote the checkpoints)"
    )
    return run_dir / BEST


def draw_curves(run_dir: Path) -> None:
    """Redraw `history.png` from `history.csv`; a picture that cannot be drawn never stops training."""
    from ..render.pictures import training_curves

    try:
        training_curves(read_history(run_dir), run_dir / "history.png")
    except (OSError, ValueError, KeyError) as error:
        print(f"history.png not drawn: {reason(error) if isinstance(error, OSError) else error}", file=sys.stderr)


def read_history(run_dir: Path) -> list[dict]:
    """The rows of a run's `history.csv`."""
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))
