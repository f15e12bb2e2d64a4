"""Every setting of the three commands, declared once: its default, its type, its range and its help.

`TrainSettings`, `GenerateSettings` and `EvaluateSettings` are dataclasses; what two commands share
(which checkpoint, how to sample, which pieces to read) is declared once in a base class of both.
`parse` makes a command's flags from its class (one flag per field, `--name-with-dashes`) with the
defaults of the settings object a script opens with, and returns the settings the command line
asks for. The library takes these objects. Nothing here imports Keras, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .cli import EITHER, FOLDER, fraction, given_flags, non_negative, number, positive_int, probability
from .data.midi_io import BPM_RANGE
from .generate.sampling import DEFAULT_TEMPERATURE, SamplingSettings
from .streams import ALL_STREAMS

if TYPE_CHECKING:
    from .model.checkpoint import Metadata

ADVANCED = "advanced"  # the help group of what few users need: several devices or processes, sizes, precision


def setting(
    default: Any,
    help: str,  # noqa: A002 - argparse's word
    check: Callable[[str], Any] | None = None,
    *,
    choices: list | None = None,
    group: str = "",
    nargs: str | None = None,
    const: Any = None,
) -> Any:
    """A field of a settings class: its default and what its flag needs (`check` parses and bounds
    a value; `group` is its section of `--help`)."""
    spec = {"help": help, "check": check, "choices": choices, "group": group, "nargs": nargs, "const": const}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=spec)
    return field(default=default, metadata=spec)


@dataclass
class Common:
    """What every command has."""

    verbose: bool = setting(False, "show TensorFlow's C++ log lines")
    given: frozenset[str] = frozenset()  # the settings the command line named (`parse`): no flag of its own


@dataclass
class Reading:
    """Which pieces a command reads, and how."""

    data: str = setting("midi_songs", "folder of MIDI or score files, searched recursively", group="data")
    cache_dir: str = setting(".cache/events", "where parsed events are cached", group="data")
    workers: int = setting(0, "parser processes (0: all cores)", number(int, 0, 1024), group="data")
    styles: str = setting(
        "folders",
        "folders: a piece's style is its first sub-folder under --data; none: no styles; or a CSV file of "
        "path,style rows",
        group="data",
    )


@dataclass
class Choice:
    """Which checkpoint a command reads."""

    checkpoint: str | None = setting(
        None, "checkpoint file or run folder; base: the shipped base model (default: the newest run's best, else base)"
    )
    weights_dir: str = setting("weights", "where to look for the newest run")

    def path_flags(self) -> dict[str, str]:
        """The flags of this choice that name a path which must exist (flag -> `cli` kind): the
        checkpoint named (not `base`, which the toolkit finds itself), or else the folder searched."""
        from .model.checkpoint import BASE

        if self.checkpoint is None:
            return {"--weights-dir": FOLDER}
        return {} if self.checkpoint == BASE else {"--checkpoint": EITHER}


@dataclass
class Sampling:
    """How each head's probabilities become a choice (`sampling.SamplingSettings`)."""

    temperature: float = setting(
        DEFAULT_TEMPERATURE, "0 = argmax; 1.0 scored closest to real music", number(float, 0, 100)
    )
    note_temperature: float | None = setting(None, "override --temperature for the note head", number(float, 0, 100))
    offset_temperature: float | None = setting(
        None, "override --temperature for the offset head", number(float, 0, 100)
    )
    duration_temperature: float | None = setting(
        None, "override --temperature for the duration head", number(float, 0, 100)
    )
    instrument_temperature: float | None = setting(
        None, "override --temperature for the instrument head", number(float, 0, 100)
    )
    top_k: int = setting(0, "keep the k most likely tokens (0: all)", non_negative(int))
    top_p: float = setting(1.0, "nucleus sampling mass", probability)
    repeats: bool = setting(
        True, "mix in the checkpoint's repeat memory so pieces repeat their own phrases (--no-repeats: network alone)"
    )
    pitch_window: bool = setting(
        True,
        "keep each piece's notes within its register widened by as much as 90%% of the training pieces reach past "
        "theirs (stored in the checkpoint; --no-pitch-window: any pitch)",
    )

    def sampling_settings(self, metadata: Metadata) -> SamplingSettings:
        """The `SamplingSettings` these ask for, with the checkpoint's repeat weights and register
        margins (`metadata`; a checkpoint without them samples without)."""
        own = {s: getattr(self, f"{s}_temperature") for s in ALL_STREAMS}
        margins = metadata.register_margins
        return SamplingSettings(
            {s: self.temperature if t is None else t for s, t in own.items()},
            self.top_k,
            self.top_p,
            metadata.repeat_weights if self.repeats else None,
            tuple(margins) if margins and self.pitch_window else None,
        )


@dataclass
class TrainSettings(Common, Reading):
    """train.py: what to read, the model, and how to fit it."""

    parse_only: bool = setting(False, "parse, print the corpus summary and exit", group="data")
    cache: bool = setting(True, "read parsed events from the cache (--no-cache: parse every file again)", group="data")
    min_count: int = setting(
        2, "tokens seen fewer times in the training split become <unk>", positive_int, group="data"
    )
    transpose: int = setting(0, "also train on every piece moved by -N..+N semitones", number(int, 0, 11), group="data")
    representation: str = setting(
        "note",
        "note: one event per note (any chord of known pitches); chord: one token per whole chord",
        choices=["note", "chord"],
        group="data",
    )
    key: str = setting(
        "common",
        "common: move each piece from its estimated key to C major or A minor before training; keep: don't",
        choices=["keep", "common"],
        group="data",
    )
    instruments: str = setting(
        "auto",
        "auto: an instrument stream when the pieces use several instruments; merge: every track one instrument "
        "(a three-branch model); separate: an instrument stream always",
        choices=["auto", "merge", "separate"],
        group="data",
    )
    drums: bool = setting(False, "learn the percussion of MIDI channel 10 as an instrument of its own", group="data")
    min_style_pieces: int = setting(2, "styles with fewer pieces train as unlabelled", positive_int, group="data")
    style_dropout: float = setting(0.1, "share of windows trained without their style", fraction, group="data")
    style_balance: float = setting(
        0.5, "small styles weigh more: (mean events per style / the style's) ** this (0: off)", number(float, 0, 4),
        group="data",
    )  # fmt: skip
    style_openings: float = setting(
        0.1, "share of windows from inside a piece that read <start> first, so each style learns to open (0: off)",
        fraction, group="data",
    )  # fmt: skip
    val_fraction: float = setting(0.1, "share of pieces held out for validation", fraction, group="data")
    preset: str = setting("default", "model size", choices=["small", "default", "original"], group="model")
    sequence_length: int = setting(64, "events per training window", number(int, 2, 4096), group="model")
    stride: int = setting(0, "events between window starts (0: half a window)", non_negative(int), group="model")
    heads: str | None = setting(
        None,
        "conditioned: the offset head sees the note chosen, the duration head both; independent "
        "(default: the preset's)",
        choices=["conditioned", "independent"],
        group="model",
    )
    instrument_first: bool = setting(
        True,
        "with an instrument stream: the chain instrument -> note -> offset -> duration "
        "(--no-instrument-first: note -> offset -> duration -> instrument)",
        group="model",
    )
    meter: bool = setting(True, "the model reads each event's time signature, beat of the bar and step", group="model")
    meter_dropout: float = setting(
        0.1, "share of windows trained without their places in the bar", fraction, group="model"
    )
    register: bool = setting(
        True, "note events: the model reads each piece's register (5th-95th percentile pitch)", group="model"
    )
    weights_dir: str = setting("weights", "checkpoints go to WEIGHTS_DIR/RUN_NAME/", group="training")
    run_name: str = setting("", "run folder name (default: date, time and preset)", group="training")
    keep_all: bool = setting(
        False, "keep every improvement as its own epochNNN checkpoint (default: best and latest only)", group="training"
    )
    epochs: int = setting(50, "epochs to train (after --resume's)", number(int, 1, 100_000), group="training")
    batch_size: int = setting(64, "windows per step (a GPU wants more)", number(int, 1, 65_536), group="training")
    learning_rate: float = setting(
        2e-3, "Adam learning rate (--init-from: 5e-4)", number(float, 0, 1, low_open=True), group="training"
    )
    label_smoothing: float = setting(0.0, "label smoothing of each head", fraction, group="training")
    loss_weights: list[float] = setting(
        [1.0, 1.0, 1.0, 1.0],
        "weight of the note, offset, duration (and instrument) heads' losses: 3 or 4 numbers",
        non_negative(float),
        nargs="+",
        group="training",
    )
    patience: int = setting(
        5, "stop after this many epochs without a better validation loss (0: never; --init-from: 3)",
        non_negative(int), group="training",
    )  # fmt: skip
    max_minutes: float = setting(0.0, "stop cleanly after this many minutes (0: no limit)", number(float, 0, 1_000_000),
                                 group="training")  # fmt: skip
    resume: str | None = setting(None, "continue from this checkpoint's weights and vocabularies", group="training")
    init_from: str | None = setting(
        None, "fine-tune: a new run on --data from this checkpoint's (or run folder's) weights and vocabularies; "
        "base: the shipped base model (learning rate and patience default to the fine-tuning ones)", group="training",
    )  # fmt: skip
    seed: int = setting(0, "seed of the split, the shuffling and the initial weights", int, group="training")
    progress: int | None = setting(
        None, "Keras progress: 0 none, 1 bar, 2 a line per epoch (default: a bar on a terminal, else lines)", int,
        choices=[0, 1, 2], group="training",
    )  # fmt: skip
    embedding: int | None = setting(None, "embedding width (default: the preset's)", positive_int, group=ADVANCED)
    branch_units: int | None = setting(None, "units of each branch LSTM", positive_int, group=ADVANCED)
    trunk_units: list[int] | None = setting(None, "units of each trunk LSTM", positive_int, nargs="+", group=ADVANCED)
    dense_units: int | None = setting(None, "units of the shared dense layer", positive_int, group=ADVANCED)
    head_units: int | None = setting(None, "hidden units per head (0: none)", non_negative(int), group=ADVANCED)
    dropout: float | None = setting(None, "dropout rate", fraction, group=ADVANCED)
    precision: str = setting(
        "float32",
        "Keras dtype policy for training (mixed_bfloat16: CPUs with bf16 units; mixed_float16: NVIDIA GPUs); "
        "weights and checkpoints stay float32",
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
        group=ADVANCED,
    )
    distribute: bool = setting(
        False, "data-parallel over every local device (--batch-size stays global)", group=ADVANCED
    )
    cpu_devices: int = setting(
        0, "split the CPU into N logical devices (0: no split)", number(int, 0, 64), group=ADVANCED
    )
    processes: int = setting(1, "with --distribute under JAX: processes training one model together",
                             number(int, 1, 4096), group=ADVANCED)  # fmt: skip
    process_id: int = setting(0, "this process's number among them; process 0 writes the run",
                              number(int, 0, 4095), group=ADVANCED)  # fmt: skip
    coordinator: str = setting("", "host:port where process 0 meets the others", group=ADVANCED)

    def problem(self) -> str | None:
        """What makes these settings unusable together, as `--flag: reason`, or None."""
        if self.resume and self.init_from:
            return "--init-from: starts a new run from a checkpoint; --resume continues one: give one of them"
        if self.processes > 1 and not (self.distribute and self.coordinator):
            return "--processes: several processes need --distribute and --coordinator HOST:PORT (process 0's)"
        if self.process_id >= self.processes:
            return f"--process-id: must be below --processes ({self.processes}), got {self.process_id}"
        if len(self.loss_weights) not in (3, 4):
            count = len(self.loss_weights)
            return f"--loss-weights: give 3 or 4 numbers (note, offset, duration, instrument), got {count}"
        return None


@dataclass
class GenerateSettings(Common, Sampling, Choice):
    """generate_music.py: which checkpoint, how many pieces and how long, how to sample, what to write."""

    output_dir: str = setting("output", "folder for generated files")
    out: str | None = setting(None, "write one piece to exactly this path")
    length: int = setting(1000, "events (notes) per piece", number(int, 1, 100_000))
    count: int = setting(1, "pieces to generate (one batch)", number(int, 1, 1024))
    seed: int | None = setting(None, "random seed (default: a new one each run, printed)", int)
    style: str = setting("", "generate this style of the checkpoint (default: the unlabelled mix)")
    list_styles: bool = setting(False, "print the checkpoint's styles and exit")
    time_signature: str = setting(
        "", "the pieces' time signature, e.g. 3/4 or 6/8 (default: each a training piece's, or the primer's)"
    )
    primer: str | None = setting(None, "MIDI or score file whose events start the piece")
    keep_primer: bool = setting(False, "also write the primer at the start of the output")
    instrument: str = setting(
        "",
        "play everything on this General MIDI program (0-127) or instrument name (default: the instruments the "
        "model chose; piano for a model of one instrument)",
    )
    transpose: int = setting(0, "move the generated notes by N semitones", number(int, -127, 127))
    bpm: float = setting(0.0, "tempo (0: the training pieces' median, else 120)", number(float, *BPM_RANGE, zero=True))
    musicxml: bool = setting(False, "also write sheet music (.musicxml)")
    png: bool = setting(False, "also draw each piece as a piano roll (.png)")
    wav: bool = setting(False, "also render each piece as audio (.wav, 44.1 kHz 16-bit stereo)")
    soundfont: str = setting("", "SoundFont (.sf2/.sf3) for --wav, implying it (default: TimGM6mb, in pretty_midi)")

    def problem(self) -> str | None:
        """What makes these settings unusable together, as `--flag: reason`, or None."""
        if self.out and self.count > 1:
            return "--out writes one file: use --output-dir with --count"
        return None


GENERATE_ALONE = 10  # what `evaluate --generate` means without a number


@dataclass
class EvaluateSettings(Common, Sampling, Reading, Choice):
    """`python -m lstm_music.evaluate`: held-out scores, and with `--generate` the music report."""

    data: str = setting("midi_songs", "folder of pieces to score and compare with (those held out of training)")
    generate: int = setting(
        0, f"also generate N pieces and compare them with the real ones (alone: {GENERATE_ALONE})",
        number(int, 0, 1024), nargs="?", const=GENERATE_ALONE,
    )  # fmt: skip
    length: int = setting(500, "notes and chords per generated piece", number(int, 1, 100_000))
    seed: int = setting(0, "sampling seed", int)
    json: str | None = setting(None, "also write every number to this JSON file")
    html: str | None = setting(None, "also write a self-contained report page to this file")
    soundfont: str = setting("", "SoundFont for the page's audio (default: TimGM6mb, in pretty_midi)")

    def problem(self) -> str | None:
        """Nothing makes these unusable together."""
        return None


Settings = TypeVar("Settings", TrainSettings, GenerateSettings, EvaluateSettings)


def parser_for(defaults: Settings, description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `defaults`' class, one flag per field, defaulting to `defaults`' values."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    groups: dict[str, Any] = {"": parser}
    for f in fields(defaults):
        if f.name == "given":
            continue
        spec = f.metadata
        if spec["group"] not in groups:
            groups[spec["group"]] = parser.add_argument_group(spec["group"])
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        shown = (
            ""
            if value in (None, "", False) or "default" in spec["help"] or f.type == "bool"
            else f" (default: {value})"
        )
        options: dict[str, Any] = {"default": value, "help": spec["help"] + shown, "dest": f.name}
        if f.type == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options |= {"type": spec["check"] or str, "choices": spec["choices"], "nargs": spec["nargs"]}
            if spec["const"] is not None:
                options["const"] = spec["const"]
        groups[spec["group"]].add_argument(flag, **options)
    return parser


def parse(defaults: Settings, argv: list[str] | None, description: str, prog: str | None = None) -> Settings:
    """The settings the command line `argv` asks for, over `defaults`; exits with status 2 and one
    line naming the flag where a value or a combination cannot work."""
    parser = parser_for(defaults, description, prog)
    namespace = parser.parse_args(argv)
    values = {f.name: getattr(namespace, f.name) for f in fields(defaults) if f.name != "given"}
    settings = replace(defaults, **values, given=frozenset(given_flags(parser, argv)))
    problem = settings.problem()
    if problem:
        parser.error(problem)
    return settings
