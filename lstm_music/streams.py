"""The names the data, the model and sampling share: streams, special tokens and model inputs, and
the model's input arrays built from encoded rows.

Streams: every model has the three streams note, offset and duration; a model trained on several
instruments (`train.py --instruments auto`) has a fourth, ``instrument``, whose column comes last
(whichever place its head has in the conditioned chain), so the first three columns mean the same
in every model. An encoded piece has one column per stream of its vocabularies, in `ALL_STREAMS`
order, and each vocabulary starts with the special tokens ``<unk>`` and ``<start>``.

This module needs only numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

UNK = "<unk>"
START = "<start>"
SPECIALS = (UNK, START)
UNK_INDEX, START_INDEX = 0, 1
STREAMS = ("note", "offset", "duration")
INSTRUMENT = "instrument"
ALL_STREAMS = (*STREAMS, INSTRUMENT)  # the columns of encoded pieces; Event fields in the same order


def streams_of(vocabularies: dict | int) -> tuple[str, ...]:
    """The streams of a model with these vocabularies (or of encoded pieces with this many columns)."""
    count = vocabularies if isinstance(vocabularies, int) else len(vocabularies)
    return ALL_STREAMS[:count]


def input_key(stream: str) -> str:
    """The model input fed by `stream` (the output of the same stream is named `stream`)."""
    return f"{stream}_in"


def given_key(stream: str) -> str:
    """The model input holding the next event's `stream` token, which later heads are conditioned on."""
    return f"{stream}_given"


REGISTER_KEY = "register"  # the model input holding each piece's register (`piece_register`)
STYLE_KEY = "style"  # the model input holding each piece's style index (`styles`)
POSITION_KEY = "position"  # the model input holding each event's place in its bar (`encoding.encode_positions`)
PIECE_KEYS = (REGISTER_KEY, STYLE_KEY)  # the inputs that hold one value per piece, not one per event


def model_inputs(
    block: np.ndarray,
    names: Iterable[str],
    registers: np.ndarray | None = None,
    styles: np.ndarray | None = None,
    positions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The inputs named `names` for rows of events `block` (batch, time + 1, streams): the model reads
    rows [0, time) and, for conditioned heads, is given the tokens of rows [1, time]. A model
    conditioned on register also reads `registers` (batch x 2), by default each row's own
    `piece_register` (right when the rows are whole pieces); one with styles reads `styles` (batch
    style indices, by default 0: none); one that reads meter reads the `positions` (batch, time + 1,
    3) of rows [0, time) (`encoding.encode_positions`; by default <unk>: no meter known)."""
    streams = streams_of(block.shape[-1])
    columns = {input_key(s): block[:, :-1, i] for i, s in enumerate(streams)}
    columns |= {given_key(s): block[:, 1:, i] for i, s in enumerate(streams)}
    if POSITION_KEY in names:
        chosen = np.zeros((*block.shape[:2], 3)) if positions is None else positions
        columns[POSITION_KEY] = np.asarray(chosen, dtype=np.int32)[:, :-1]
    if REGISTER_KEY in names:
        if registers is None:
            registers = [piece_register(rows) for rows in block]
        columns[REGISTER_KEY] = np.asarray(registers, dtype=np.float32).reshape(len(block), 2)
    if STYLE_KEY in names:
        chosen = np.zeros(len(block)) if styles is None else styles
        columns[STYLE_KEY] = np.asarray(chosen, dtype=np.int32).reshape(len(block), 1)
    return {name: columns[name] for name in names}


def piece_pitches(rows: np.ndarray) -> np.ndarray:
    """The MIDI pitches of an encoded piece of note events (its note column without the special
    tokens). Needs the pitch vocabulary."""
    notes = rows[:, 0]
    return notes[notes >= len(SPECIALS)] - len(SPECIALS)


def piece_register(rows: np.ndarray) -> np.ndarray:
    """The register of an encoded piece of note events: the 5th and 95th percentile of its MIDI
    pitches. A model conditioned on it keeps a piece in one tessitura instead of drifting through
    those of all its training pieces (docs/BENCHMARKS.md). Needs the pitch vocabulary. (With an
    instrument stream, drum notes count too: their numbers are sounds, but the register is read
    the same way in training and generation.)"""
    pitches = piece_pitches(rows)
    if not len(pitches):
        return np.array([60.0, 60.0], dtype=np.float32)
    return np.percentile(pitches, [5, 95]).astype(np.float32)


def register_margins(arrays: list[np.ndarray], share: float = 0.9) -> list[float]:
    """How far the lowest pitch of an encoded piece lies below its register (`piece_register`) and
    the highest above it, each the `share` quantile over `arrays`: the room that `share` of real
    pieces take past their register. Generation keeps a piece's notes within its register widened
    by these (`sampling.SamplingSettings.pitch_window`). Needs the pitch vocabulary."""
    below, above = [], []
    for rows in arrays:
        pitches = piece_pitches(rows)
        if len(pitches):
            low, high = piece_register(rows)
            below.append(float(low) - pitches.min())
            above.append(pitches.max() - float(high))
    if not below:
        return [0.0, 0.0]
    return [round(float(np.quantile(below, share)), 1), round(float(np.quantile(above, share)), 1)]
