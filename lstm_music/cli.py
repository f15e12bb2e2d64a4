"""What the command-line entry points share: flag validators, the sampling flags, exit status 2.

Nothing here imports Keras, so `--help` and flag errors answer at once.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from .sampling import SamplingSettings
from .streams import ALL_STREAMS


class SettingError(Exception):
    """A flag whose value cannot work on this machine or backend; its message names the flag."""


def number(
    kind: type = float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    zero: bool = False,
) -> Callable[[str], int | float]:
    """The one parser of numeric flags: a finite number of `kind` between `low` and `high` (either
    end excluded with `low_open` / `high_open`); with `zero`, 0 is accepted too (it means "the
    default"). NaN, infinities and absurd sizes stop at the command line with a one-line reason."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    wanted = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        wanted += f" in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        wanted += f" {'above' if low_open else 'of at least'} {low:g}"
    if zero:
        wanted = f"0 or {wanted}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if zero and value == 0:
            return value
        inside = math.isfinite(value)
        if low is not None:
            inside = inside and (value > low if low_open else value >= low)
        if high is not None:
            inside = inside and (value < high if high_open else value <= high)
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    return parse


positive_int = number(int, 1)
fraction = number(float, 0, 1, high_open=True)
probability = number(float, 0, 1, low_open=True)


def non_negative(kind: type = int) -> Callable[[str], int | float]:
    """A parser of finite numbers of `kind` that are 0 or more."""
    return number(kind, 0)


def add_sampling_flags(
    parser: argparse.ArgumentParser, temperature: float, top_k: int, top_p: float, repeats: bool, pitch_window: bool
) -> None:
    """The flags that say how each head is sampled, with these defaults."""
    parser.add_argument("--temperature", type=number(float, 0, 100), default=temperature, help="0 = argmax")
    for stream in ALL_STREAMS:
        parser.add_argument(
            f"--{stream}-temperature", type=number(float, 0, 100), help=f"override --temperature for the {stream} head"
        )
    parser.add_argument("--top-k", type=non_negative(int), default=top_k, help="keep the k most likely tokens (0: all)")
    parser.add_argument("--top-p", type=probability, default=top_p, help="nucleus sampling mass")
    parser.add_argument(
        "--repeats",
        action=argparse.BooleanOptionalAction,
        default=repeats,
        help="mix in the checkpoint's repeat memory so pieces repeat their own phrases (--no-repeats: network alone)",
    )
    parser.add_argument(
        "--pitch-window",
        action=argparse.BooleanOptionalAction,
        default=pitch_window,
        help="keep each piece's notes within its register widened by as much as 90%% of the training pieces "
        "reach past theirs (stored in the checkpoint; --no-pitch-window: any pitch)",
    )


def sampling_settings(args: argparse.Namespace, metadata: dict) -> SamplingSettings:
    """The `SamplingSettings` the sampling flags ask for, with the checkpoint's repeat weights and
    register margins (`metadata`; a checkpoint without them samples without)."""
    temperatures = {s: getattr(args, f"{s}_temperature") for s in ALL_STREAMS}
    margins = metadata.get("register_margins")
    return SamplingSettings(
        {s: args.temperature if t is None else t for s, t in temperatures.items()},
        args.top_k,
        args.top_p,
        metadata.get("repeat_weights") if args.repeats else None,
        tuple(margins) if margins and args.pitch_window else None,
    )


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """`--verbose`: show the backend's C++ start-up and log lines, hidden by default (`backend`)."""
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ log lines")


def exit_status(run: Callable[[], object], errors: tuple[type[Exception], ...]) -> int:
    """Run `run`; on one of `errors` print its one-line message and return 2, else return 0."""
    try:
        run()
    except errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
