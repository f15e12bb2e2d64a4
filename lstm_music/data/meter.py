"""Meter: time signatures, bars and beats, and where in its bar and beat each event starts.

A piece's meter is a list of `Meter`s, each a time signature in force from a bar line on (a
MIDI file's time-signature events, a score's `TimeSignature`s; a score's pickup bar puts the first
bar line before 0). A piece without one is read in 4/4 from 0 and said to have none. Bars repeat
from each bar line, forward and backward, until the next change.

An event's *position* is the beat of its bar it starts in (0 is the downbeat) and where in that
beat it starts, on a grid of `GRID` steps per quarter note (16ths and triplet eighths); a start
between grid steps (a quintuplet) is `OFF_GRID`. Beats are the time signature's: its denominator's
note, or three of them in compound meters (6/8, 9/8, 12/8: the dotted quarter).

This module needs only numpy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

import numpy as np

GRID = 12  # steps per quarter note: 16ths (3 steps) and triplet eighths (4 steps) both fall on it
BEATS = 16  # beat indices 0-15; a later beat of a long bar counts as 15
STEPS = 4 * GRID  # steps within a beat 0-47 (a beat is at most a whole note)
OFF_GRID = STEPS  # the step index of a start between grid steps (a quintuplet, a septuplet)
DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)


class Meter(NamedTuple):
    """A time signature in force from the bar line at `start` (quarter notes from the piece's start)."""

    start: Fraction
    numerator: int
    denominator: int

    @property
    def token(self) -> str:
        """The time signature as written: ``"6/8"``."""
        return f"{self.numerator}/{self.denominator}"

    @property
    def bar(self) -> Fraction:
        """Quarter notes per bar."""
        return Fraction(4 * self.numerator, self.denominator)

    @property
    def beat(self) -> Fraction:
        """Quarter notes per beat: the denominator's note, or three of them in a compound meter."""
        compound = self.numerator % 3 == 0 and self.numerator > 3 and self.denominator >= 8
        return Fraction(4 * (3 if compound else 1), self.denominator)


COMMON = Meter(Fraction(0), 4, 4)  # what a piece without a time signature is read in


def time_signature(text: str) -> tuple[int, int]:
    """(numerator, denominator) of a time signature written ``"3/4"``; `ValueError` saying why not."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found:
        raise ValueError(f"{text!r} is not a time signature such as 4/4, 3/4 or 6/8")
    numerator, denominator = int(found.group(1)), int(found.group(2))
    if not 1 <= numerator <= 64 or denominator not in DENOMINATORS:
        raise ValueError(f"{text!r}: a time signature has 1-64 beats of a whole, half, quarter, ... 64th note")
    return numerator, denominator


def unique(meters: Iterable[Meter]) -> tuple[Meter, ...]:
    """`meters` sorted by start, the last of several at one start kept (every track of a MIDI file
    may repeat the conductor's)."""
    kept: dict[Fraction, Meter] = {}
    for meter in sorted(meters, key=lambda m: m.start):
        kept[meter.start] = meter
    return tuple(kept.values())


def in_force(meters: Iterable[Meter]) -> list[Meter]:
    """`unique(meters)`, with 4/4 from 0 where none is in force yet (as MIDI reads a file without one)."""
    kept = list(unique(meters))
    return kept if kept and kept[0].start <= 0 else [COMMON, *kept]


def positions(ticks: np.ndarray, resolution: int, meters: Iterable[Meter]) -> np.ndarray:
    """(meter, beat index, step in the beat) of starts at `ticks` (ticks of 1/`resolution` quarter
    note from the piece's start) under `meters`, as an int32 array (starts, 3); the meter is the
    index of the one in force in `in_force(meters)`."""
    meters = in_force(meters)
    scale = math.lcm(resolution, GRID, *(m.denominator for m in meters), *(m.start.denominator for m in meters))
    fine = np.asarray(ticks, dtype=np.int64) * (scale // resolution)
    starts = np.array([int(m.start * scale) for m in meters], dtype=np.int64)
    which = np.maximum(np.searchsorted(starts, fine, side="right") - 1, 0)  # before the first: its bars, backward
    bar = np.array([int(m.bar * scale) for m in meters], dtype=np.int64)[which]
    beat = np.array([int(m.beat * scale) for m in meters], dtype=np.int64)[which]
    in_bar = np.mod(fine - starts[which], bar)
    in_beat = in_bar % beat
    step = in_beat * GRID
    on_grid = step % scale == 0
    out = np.empty((len(fine), 3), dtype=np.int32)
    out[:, 0] = which
    out[:, 1] = np.minimum(in_bar // beat, BEATS - 1)
    out[:, 2] = np.where(on_grid, np.minimum(step // scale, STEPS - 1), OFF_GRID)
    return out


def meter_at(meters: Iterable[Meter], time: Fraction) -> Meter:
    """The meter in force at `time`."""
    meters = in_force(meters)
    return next((m for m in reversed(meters) if m.start <= time), meters[0])


def main_meter(meters: Iterable[Meter], end: Fraction) -> Meter:
    """The time signature that lasts longest in a piece of `end` quarter notes (ties: the first)."""
    meters = in_force(meters)
    lasting: Counter = Counter()
    for meter, following in zip(meters, [*meters[1:], None], strict=True):
        lasting[meter.token] += (following.start if following else max(end, meter.start)) - meter.start
    token = max(lasting, key=lambda t: (lasting[t], -[m.token for m in meters].index(t)))
    return next(m for m in meters if m.token == token)


def off_the_grid(steps: np.ndarray, placed: float) -> bool:
    """Whether a piece's notes do not sit on its own beat grid: its file placed fewer than half of them
    on the grid of 16ths and triplets (`placed`, `events.Piece.grid`: recorded without a click, so
    the quantized starts say nothing of its beats), or more than a tenth of them start between the
    grid steps of their bars (`steps`, from `positions`: its bar lines lie off its notes)."""
    return placed < 0.5 or bool(len(steps) and np.mean(np.asarray(steps) == OFF_GRID) > 0.1)


def describe_meters(pieces: list[tuple[str, tuple[Meter, ...], Fraction, bool]]) -> str:
    """One line: how many pieces are in each main time signature, and which pieces had none or lie
    off the beat grid; `pieces` are (path, meters, length in quarters, off the grid)."""
    counts = Counter(main_meter(meters, end).token for _, meters, end, _ in pieces)
    line = "meters: " + ", ".join(f"{token} {n} piece{'s' * (n != 1)}" for token, n in counts.most_common())
    for what, chosen in (
        ("without a time signature (read in 4/4)", [path for path, meters, _, _ in pieces if not meters]),
        ("off their beat grid (bar lines elsewhere, or played without a click)", [p for p, _, _, off in pieces if off]),
    ):
        if chosen:
            shown = ", ".join(chosen[:3]) + (f" and {len(chosen) - 3} more" if len(chosen) > 3 else "")
            line += f"; {len(chosen)} {what}: {shown}"
    return line
