"""Train the LSTM music model (a branch and a head per stream: note, offset, duration, and the
instrument where the pieces use several) on a folder of MIDI (or score) files.

    python train.py                              # midi_songs/ -> weights/<date>-<preset>/
    python train.py --data my_midis --max-minutes 15
    python train.py --data my_midis --parse-only # just parse and summarise

Edit the settings below or pass them as flags (`python train.py --help`).
"""

import argparse
import sys

from lstm_music.cli import (
    FILE,
    FOLDER,
    add_verbose_flag,
    check_paths,
    exit_status,
    fraction,
    given_flags,
    non_negative,
    number,
    positive_int,
)

# Data
DATA = "midi_songs"  # folder of .mid/.midi (and .mxl/.musicxml/.xml/.krn/.abc) files, searched recursively
CACHE_DIR = ".cache/events"  # parsed events, keyed by file content
WORKERS = 0  # parser processes; 0 = all cores
MIN_COUNT = 2  # tokens seen fewer times in the training split become <unk>
TRANSPOSE = 0  # also train on every piece shifted by -N..+N semitones
REPRESENTATION = "note"  # note: one event per note, chords lowest note first | chord: one token per whole chord
KEY = "common"  # common: each piece moved to C major or A minor before training (keeps the key) | keep
INSTRUMENTS = "auto"  # auto: learn each note's instrument when the pieces use several | merge: all one | separate
DRUMS = False  # also learn the percussion of MIDI channel 10, as an instrument of its own
STYLES = "folders"  # folders: a piece's style is its first sub-folder under DATA | none | a path,style CSV file
MIN_STYLE_PIECES = 2  # styles with fewer pieces are trained as unlabelled
STYLE_DROPOUT = 0.1  # share of training windows shown without their style, so "no style" is learned too
STYLE_BALANCE = 0.5  # small styles weigh more: loss weight (mean events per style / the style's) ** this; 0 = off
STYLE_OPENINGS = 0.1  # share of a style model's windows from inside a piece that read <start> first (0 = off)
VAL_FRACTION = 0.1  # share of pieces held out for validation
# Model
PRESET = "default"  # small | default | seed
SEQUENCE_LENGTH = 64  # events per training window
STRIDE = 0  # events between window starts; 0 = SEQUENCE_LENGTH / 2
REGISTER = True  # note events: condition the model on each piece's register, so a piece keeps its tessitura
METER = True  # the model reads where each event lies in its bar and beat (its time signature's)
METER_DROPOUT = 0.1  # share of training windows shown without their places in the bar
INSTRUMENT_FIRST = True  # with instruments: a note's instrument is chosen before its pitch (parts keep their ranges)
HEADS = ""  # conditioned (offset sees the note, duration both) | independent; "" = the preset's
# Training
WEIGHTS_DIR = "weights"
RUN_NAME = ""  # default: <date>-<time>-<preset>
KEEP_ALL = False  # keep every improvement as epochNNN-val_lossX.weights.h5 (default: best and latest only)
EPOCHS = 50
BATCH_SIZE = 64  # windows per step; a GPU wants more (256 on an H100)
LEARNING_RATE = 2e-3
LABEL_SMOOTHING = 0.0
PRECISION = "float32"  # or mixed_bfloat16 (CPUs with bf16 units), mixed_float16 (NVIDIA GPUs): faster
LOSS_WEIGHTS = [1.0, 1.0, 1.0, 1.0]  # weight of the note, offset, duration and instrument heads in the total loss
PATIENCE = 5  # stop after this many epochs without a better validation loss; 0 = never
DISTRIBUTE = False  # train on every local accelerator at once (data parallel; --batch-size stays the global batch)
CPU_DEVICES = 0  # split the CPU into this many logical devices (to try --distribute without a GPU); 0 = no split
PROCESSES = 1  # with --distribute under JAX: processes (one per machine) that train one model together
PROCESS_ID = 0  # this process's number among them; process 0 writes the run
COORDINATOR = ""  # host:port where process 0 meets the others, e.g. 10.0.0.1:1234
MAX_MINUTES = 0.0  # stop cleanly after this many minutes; 0 = no limit
SEED = 0
PROGRESS = None  # Keras progress: 0 none, 1 bar, 2 a line per epoch; None: a bar on a terminal, else lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The settings above, overridden by command-line flags (one flag per setting, in the order of
    the constants, so this is long by nature and kept flat)."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    data = p.add_argument_group("data")
    data.add_argument("--data", default=DATA, help="folder of MIDI or score files, searched recursively")
    data.add_argument("--parse-only", action="store_true", help="parse, print the corpus summary and exit")
    data.add_argument("--cache-dir", default=CACHE_DIR, help="where parsed events are cached")
    data.add_argument("--no-cache", action="store_true", help="parse every file again, ignoring the cache")
    data.add_argument("--workers", type=number(int, 0, 1024), default=WORKERS, help="parser processes (0: all cores)")
    data.add_argument("--min-count", type=positive_int, default=MIN_COUNT, help="rarer tokens become <unk>")
    data.add_argument("--transpose", type=number(int, 0, 11), default=TRANSPOSE, help="augment by -N..+N semitones")
    data.add_argument(
        "--representation",
        choices=["note", "chord"],
        default=REPRESENTATION,
        help="note: one event per note (any chord of known pitches); chord: one token per whole chord",
    )
    data.add_argument(
        "--key",
        choices=["keep", "common"],
        default=KEY,
        help="common: move each piece from its estimated key to C major or A minor before training; keep: don't",
    )
    data.add_argument(
        "--instruments",
        choices=["auto", "merge", "separate"],
        default=INSTRUMENTS,
        help="auto: an instrument stream when the pieces use several instruments; merge: every track one "
        "instrument (a three-branch model); separate: an instrument stream always",
    )
    data.add_argument(
        "--drums",
        action=argparse.BooleanOptionalAction,
        default=DRUMS,
        help="learn the percussion of MIDI channel 10 as an instrument (left out by default)",
    )
    data.add_argument(
        "--styles",
        default=STYLES,
        help="folders: a piece's style is its first sub-folder under --data; none: no styles; or a CSV "
        "file of path,style rows",
    )
    data.add_argument(
        "--min-style-pieces", type=positive_int, default=MIN_STYLE_PIECES, help="smaller styles train unlabelled"
    )
    data.add_argument(
        "--style-dropout", type=fraction, default=STYLE_DROPOUT, help="share of windows trained without their style"
    )
    data.add_argument(
        "--style-balance", type=number(float, 0, 4), default=STYLE_BALANCE, help="weight of small styles (0: off)"
    )
    data.add_argument(
        "--style-openings",
        type=fraction,
        default=STYLE_OPENINGS,
        help="share of windows from inside a piece that read <start> first, so each style learns to open (0: off)",
    )
    data.add_argument("--val-fraction", type=fraction, default=VAL_FRACTION, help="share of pieces for validation")
    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=["small", "default", "seed"], default=PRESET, help="model size")
    model.add_argument(
        "--sequence-length", type=number(int, 2, 4096), default=SEQUENCE_LENGTH, help="events per window"
    )
    model.add_argument("--stride", type=non_negative(int), default=STRIDE, help="window step (0: half a window)")
    model.add_argument("--embedding", type=positive_int, help="override: embedding width")
    model.add_argument("--branch-units", type=positive_int, help="override: units of each branch LSTM")
    model.add_argument("--trunk-units", type=positive_int, nargs="+", help="override: units of each trunk LSTM")
    model.add_argument("--dense-units", type=positive_int, help="override: units of the shared dense layer")
    model.add_argument("--head-units", type=non_negative(int), help="override: hidden units per head (0: none)")
    model.add_argument("--dropout", type=fraction, help="override: dropout rate")
    model.add_argument(
        "--heads",
        choices=["conditioned", "independent"],
        default=HEADS or None,
        help="override: conditioned heads see the note (and offset) already chosen for the event",
    )
    model.add_argument(
        "--instrument-first",
        action=argparse.BooleanOptionalAction,
        default=INSTRUMENT_FIRST,
        help="with an instrument stream: the chain instrument -> note -> offset -> duration "
        "(--no-instrument-first: note -> offset -> duration -> instrument)",
    )
    model.add_argument(
        "--meter",
        action=argparse.BooleanOptionalAction,
        default=METER,
        help="the model reads each event's time signature, beat of the bar and step of the beat",
    )
    model.add_argument(
        "--meter-dropout", type=fraction, default=METER_DROPOUT, help="share of windows trained without meter"
    )
    model.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=REGISTER,
        help="note events: the model reads each piece's register (5th-95th percentile pitch) at every step",
    )
    fit = p.add_argument_group("training")
    fit.add_argument("--weights-dir", default=WEIGHTS_DIR, help="checkpoints go to WEIGHTS_DIR/RUN_NAME/")
    fit.add_argument("--run-name", default=RUN_NAME, help="run folder name (default: date, time and preset)")
    fit.add_argument(
        "--keep-all",
        action=argparse.BooleanOptionalAction,
        default=KEEP_ALL,
        help="keep every improvement as its own epochNNN checkpoint (default: best.weights.h5 and latest.weights.h5)",
    )
    fit.add_argument(
        "--epochs", type=number(int, 1, 100_000), default=EPOCHS, help="epochs to train (after --resume's)"
    )
    fit.add_argument("--batch-size", type=number(int, 1, 65_536), default=BATCH_SIZE, help="windows per batch")
    fit.add_argument(
        "--learning-rate", type=number(float, 0, 1, low_open=True), default=LEARNING_RATE, help="Adam learning rate"
    )
    fit.add_argument("--label-smoothing", type=fraction, default=LABEL_SMOOTHING, help="label smoothing of each head")
    fit.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
        default=PRECISION,
        help="Keras dtype policy for training; weights and checkpoints stay float32",
    )
    fit.add_argument(
        "--distribute", action="store_true", default=DISTRIBUTE, help="data-parallel over every local device"
    )
    fit.add_argument(
        "--cpu-devices", type=number(int, 0, 64), default=CPU_DEVICES, help="split the CPU into N logical devices"
    )
    fit.add_argument("--processes", type=number(int, 1, 4096), default=PROCESSES, help="processes training together")
    fit.add_argument("--process-id", type=number(int, 0, 4095), default=PROCESS_ID, help="this process's number")
    fit.add_argument("--coordinator", default=COORDINATOR, help="host:port of process 0, with --processes")
    fit.add_argument(
        "--loss-weights",
        type=non_negative(float),
        nargs="+",
        default=LOSS_WEIGHTS,
        metavar="WEIGHT",
        help="weight of the note, offset, duration (and instrument) heads' losses: 3 or 4 numbers",
    )
    fit.add_argument("--patience", type=non_negative(int), default=PATIENCE, help="early-stopping patience (0: off)")
    fit.add_argument(
        "--max-minutes", type=number(float, 0, 1_000_000), default=MAX_MINUTES, help="time budget (0: none)"
    )
    fit.add_argument("--resume", help="continue from this checkpoint's weights and vocabularies")
    fit.add_argument("--seed", type=int, default=SEED, help="seed of the split, shuffling and initial weights")
    fit.add_argument(
        "--progress",
        type=int,
        choices=[0, 1, 2],
        default=PROGRESS if PROGRESS is not None else (1 if sys.stdout.isatty() else 2),
        help="Keras progress: 0 none, 1 bar, 2 a line per epoch (default: a bar on a terminal, else lines)",
    )
    add_verbose_flag(p)
    args = p.parse_args(argv)
    args.given = given_flags(p, argv)  # the settings named on the command line (a resumed run refuses some)
    if args.processes > 1 and not (args.distribute and args.coordinator):
        p.error("--processes: several processes need --distribute and --coordinator HOST:PORT (process 0's)")
    if args.process_id >= args.processes:
        p.error(f"--process-id: must be below --processes ({args.processes}), got {args.process_id}")
    if len(args.loss_weights) not in (3, 4):
        p.error(
            f"--loss-weights: give 3 or 4 numbers (note, offset, duration, instrument), got {len(args.loss_weights)}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse or train as the flags say; exit status 2 on unusable data, paths or checkpoints."""
    args = parse_args(argv)

    def run() -> None:
        from lstm_music.backend import check_backend, set_verbose

        styles = {} if args.styles in ("folders", "none") else {"--styles": FILE}
        outputs = {} if args.parse_only else {"--weights-dir": FOLDER}
        check_paths(args, {"--data": FOLDER, "--resume": FILE, **styles}, outputs)
        set_verbose(args.verbose)
        from lstm_music.training import check_resume, parse_only, train

        if args.parse_only:
            parse_only(args)
            return
        check_backend()
        if args.resume:
            check_resume(args)  # a bad --resume file or a setting it cannot change fails before any parsing
        if args.cpu_devices:
            from lstm_music.backend import split_cpu

            split_cpu(args.cpu_devices)
        if args.processes > 1:
            from lstm_music.backend import join_processes

            join_processes(args.coordinator, args.processes, args.process_id)
        train(args)

    from lstm_music.checkpoint import CheckpointError
    from lstm_music.corpus import DataError
    from lstm_music.styles import StyleError

    return exit_status(run, (DataError, CheckpointError, StyleError))


if __name__ == "__main__":
    sys.exit(main())
