"""What the command-line entry points share: flag validators, the paths they name, exit status 2.

Nothing here imports Keras, so `--help` and flag errors answer at once.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .files import reason


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


def given_flags(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The settings (argument names) that `argv` names on the command line, whatever their value:
    `parser` parsed once more with every default hidden."""
    actions = parser._actions  # argparse keeps no record of what was given; its actions are the one list
    defaults = [action.default for action in actions]
    try:
        for action in actions:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_args(argv)))
    finally:
        for action, default in zip(actions, defaults, strict=True):
            action.default = default


def exit_status(run: Callable[[], object], errors: tuple[type[Exception], ...] = ()) -> int:
    """Run `run`; on a `SettingError` or one of `errors` print its one-line message and return 2, on
    Ctrl-C one line and 130 (what a shell reports for SIGINT), else return 0."""
    hook, dropped = sys.unraisablehook, []
    sys.unraisablehook = interrupting_again(hook, dropped)
    try:
        run()
        if dropped:  # a Ctrl-C that the run finished before it could be delivered again
            raise KeyboardInterrupt
    except (SettingError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"\ninterrupted{f': {interrupt}' if str(interrupt) else ''}", file=sys.stderr)
        return 130
    finally:
        sys.unraisablehook = hook
        for timer in dropped:
            timer.cancel()
    return 0


def interrupting_again(hook: Callable, dropped: list) -> Callable:
    """An unraisable-exception hook: a Ctrl-C that Python drops with a traceback, because it arrived
    inside a callback (the import system's lock cleanup while Keras loads), is sent again a moment
    later, when it can stop the run (its timer is added to `dropped`); anything else goes to `hook`."""

    def on_unraisable(unraisable) -> None:
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, KeyboardInterrupt):
            hook(unraisable)
            return
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        dropped.append(timer)
        timer.start()

    return on_unraisable


FILE, FOLDER, EITHER = "file", "folder", "file or folder"


def _what_is(path: Path) -> str:
    return FOLDER if path.is_dir() else FILE


def check_input(flag: str, path: str | Path, kind: str) -> None:
    """`SettingError` naming `flag` unless `path` is an existing, readable `kind` (`FILE`, `FOLDER`
    or `EITHER`)."""
    path = Path(path)
    if not path.exists() and path.is_symlink():  # a link to nowhere, or a loop of links
        try:
            path.stat()
        except OSError as error:
            raise SettingError(f"{flag} {path}: cannot read it: {reason(error)}") from None
    if not path.exists():
        missing = next((p for p in reversed(path.parents) if not p.exists()), path)
        where = "" if missing == path else f" ({missing} does not exist)"
        raise SettingError(f"{flag} {path}: does not exist{where}")
    if kind != EITHER and _what_is(path) != kind:
        raise SettingError(f"{flag} {path}: is a {_what_is(path)}, not a {kind}")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise SettingError(f"{flag} {path}: no permission to read it")


def check_output(flag: str, path: str | Path, kind: str) -> None:
    """`SettingError` naming `flag` unless a `kind` (`FILE` or `FOLDER`) can be written at `path`:
    what is there already is of that kind and writable, or the nearest folder above it that exists
    is a folder this process may write in (missing folders between are made when writing)."""
    path = Path(path)
    if path.exists():
        if _what_is(path) != kind:
            raise SettingError(f"{flag} {path}: is a {_what_is(path)}, not a {kind}")
        if not os.access(path, os.W_OK | (os.X_OK if kind == FOLDER else 0)):
            raise SettingError(f"{flag} {path}: no permission to write {'in ' * (kind == FOLDER)}it")
        return
    above = next(p for p in path.absolute().parents if p.exists())
    if not above.is_dir():
        raise SettingError(f"{flag} {path}: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise SettingError(f"{flag} {path}: no permission to write in {above}")


def check_paths(settings: object, inputs: dict[str, str], outputs: dict[str, str]) -> None:
    """`check_input` of each flag of `inputs` and `check_output` of each of `outputs` (flag -> kind)
    that `settings` sets, before anything slow starts."""
    for flags, check in ((inputs, check_input), (outputs, check_output)):
        for flag, kind in flags.items():
            value = getattr(settings, flag.lstrip("-").replace("-", "_"))
            if value:
                check(flag, value, kind)
