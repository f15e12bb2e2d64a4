"""What each generated piece is given before it is sampled: a training piece's register and time
signature, and the bar clock (`Bars`) that keeps its place in the bar."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ..data.meter import GRID, Meter, time_signature
from ..data.tokens import parse_ql
from ..streams import (
    SPECIALS,
    UNK_INDEX,
    piece_register,
)

if TYPE_CHECKING:
    from ..model.checkpoint import Metadata


@dataclass
class Bars:
    """What keeps each generated piece's bars, at `resolution` ticks per quarter note (a multiple of
    `meter.GRID`): per piece its time signature's index among the model's, its ticks per bar and per
    beat (`pieces`, (batch, 3)); the ticks each offset token moves time by (`offset_ticks`); and the
    times of the rows given before sampling (`given`: ``<start>`` at 0, then a primer's), from a
    bar line. Sampling adds each offset it draws to the time, so the bar count is exact."""

    pieces: np.ndarray
    offset_ticks: np.ndarray
    given: np.ndarray
    resolution: int


def choose_registers(
    known: list | None,
    count: int,
    seed: int,
    primer: np.ndarray | None = None,
    styles: list[int] | None = None,
    style: int = 0,
) -> np.ndarray | None:
    """A register for each of `count` pieces: the primer's if there is one, else one of the training
    pieces' registers `known` (a checkpoint's ``registers``) drawn at random (`draw_training`); None
    without either."""
    if primer is not None and len(primer):
        return np.repeat(piece_register(primer)[None], count, axis=0)
    if not known:
        return None
    return np.asarray(draw_training(known, count, seed, styles, style), dtype=np.float32)


def draw_training(known: list, count: int, seed: int, styles: list[int] | None = None, style: int = 0) -> list:
    """For each of `count` pieces, one of `known` (what each training piece had: its register, its
    time signature) drawn at random, among the pieces of `style` where `styles` gives each one's
    style index. Lists of the same training pieces give the same draw: a piece gets the register
    and the time signature of one training piece."""
    if style and styles and style in styles:  # a Joplin piece gets a Joplin piece's register
        known = [value for value, s in zip(known, styles, strict=True) if s == style]
    rng = np.random.default_rng([seed, 1])  # its own stream: the notes drawn stay those of `seed`
    return [known[i] for i in rng.integers(len(known), size=count)]


def draw_meters(metadata: Metadata, count: int, seed: int, style: int = 0) -> list[Meter]:
    """The time signature of each of `count` pieces (of `style`) as a checkpoint's `metadata` lends
    them: each the main one of the training piece that lends it its register (`draw_training`);
    none for a checkpoint without meter."""
    if not metadata.meters or not metadata.piece_meters:
        return []
    drawn = draw_training(metadata.piece_meters, count, seed, metadata.register_styles, style)
    return [Meter(Fraction(0), *time_signature(token)) for token in drawn]


def make_bars(meters: list[str], chosen: list[Meter], offsets: list[str], given: list[Fraction] | None = None) -> Bars:
    """The `Bars` of pieces in the time signatures `chosen` (one per piece), for a model that reads
    the time signatures `meters` and draws offsets of the tokens `offsets`; `given`: the starts of
    a primer's events from a bar line (quarter notes), after the ``<start>`` row's 0."""
    known = [parse_ql(t) for t in offsets if t not in SPECIALS]
    fractions = [*known, *(f for m in chosen for f in (m.bar, m.beat)), *(given or [])]
    resolution = math.lcm(GRID, *(f.denominator for f in fractions))
    index = {token: i for i, token in enumerate(meters)}
    pieces = [[index.get(m.token, UNK_INDEX), int(m.bar * resolution), int(m.beat * resolution)] for m in chosen]
    ticks = [0 if t in SPECIALS else int(parse_ql(t) * resolution) for t in offsets]
    times = [0, *(round(start * resolution) for start in given or [])]
    return Bars(np.array(pieces, np.int32), np.array(ticks, np.int32), np.array(times, np.int64), resolution)
