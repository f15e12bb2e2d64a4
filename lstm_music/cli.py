"""What the command-line entry points share: flag validators, the sampling flags, exit status 2.

Nothing here imports Keras, so `--help` and flag errors answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .sampling import SamplingSettings
from .vocab import STREAMS


class SettingError(Exception):
    """A flag whose value cannot work on this machine or backend; its message names the flag."""


def positive_int(text: str) -> int:
    """An integer above 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """A parser of integers of at least `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


def non_negative(kind: type = int) -> Callable[[str], int | float]:
    """A parser of numbers of `kind` that are 0 or more."""

    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
        return value

    return parse


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def probability(text: str) -> float:
    """A number in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def add_sampling_flags(
    parser: argparse.ArgumentParser, temperature: float, top_k: int, top_p: float, repeats: bool
) -> None:
    """The flags that say how each head is sampled, with these defaults."""
    parser.add_argument("--temperature", type=non_negative(float), default=temperature, help="0 = argmax")
    for stream in STREAMS:
        parser.add_argument(
            f"--{stream}-temperature", type=non_negative(float), help=f"override --temperature for the {stream} head"
        )
    parser.add_argument("--top-k", type=non_negative(int), default=top_k, help="keep the k most likely tokens (0: all)")
    parser.add_argument("--top-p", type=probability, default=top_p, help="nucleus sampling mass")
    parser.add_argument(
        "--repeats",
        action=argparse.BooleanOptionalAction,
        default=repeats,
        help="mix in the checkpoint's repeat memory so pieces repeat their own phrases (--no-repeats: network alone)",
    )


def sampling_settings(args: argparse.Namespace, repeat_weights: dict | None = None) -> SamplingSettings:
    """The `SamplingSettings` the sampling flags ask for, with the checkpoint's `repeat_weights`."""
    temperatures = {s: getattr(args, f"{s}_temperature") for s in STREAMS}
    return SamplingSettings(
        {s: args.temperature if t is None else t for s, t in temperatures.items()},
        args.top_k,
        args.top_p,
        repeat_weights if args.repeats else None,
    )


def exit_status(run: Callable[[], object], errors: tuple[type[Exception], ...]) -> int:
    """Run `run`; on one of `errors` print its one-line message and return 2, else return 0."""
    try:
        run()
    except errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
