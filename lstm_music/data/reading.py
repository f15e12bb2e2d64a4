"""Reading a training folder as train.py does (styles labelled, rare styles unlabelled), and the
summary `--parse-only` prints."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..cli import SettingError
from .corpus import Corpus, load_corpus
from .instruments import PIANO, REAL_SHARE, instrument_name, instrument_plan
from .preparation import prepare, prepared, shifts, split_pieces
from .styles import (
    describe_styles,
    keep_styles,
    label_pieces,
    read_style_table,
    unmatched_warning,
)
from .vocab import build_vocabularies, describe_piece_meters, instruments_used, unknown_notes

if TYPE_CHECKING:
    from ..settings import TrainSettings


def read_data(settings: TrainSettings, in_memory: bool = True) -> Corpus:
    """Parse (or read from the cache) every piece in `settings.data`; print the one-line summary.
    Training reads it with `in_memory` False: its pieces' events stay in the cache until used."""
    if settings.drums and settings.instruments == "merge":
        raise SettingError("--drums needs an instrument stream: it cannot be used with --instruments merge")
    table = None if settings.styles in ("folders", "none") else read_style_table(settings.styles)
    cache = settings.cache_dir if settings.cache else None
    corpus = load_corpus(settings.data, cache, settings.workers or None, drums=settings.drums, in_memory=in_memory)
    print(corpus.summary())
    print(describe_piece_meters(corpus.pieces))
    if table is not None:
        warning = unmatched_warning(table, corpus.pieces, settings.data, settings.styles)
        if warning:
            print(warning, file=sys.stderr)
    if settings.styles != "none":  # each piece's style, from its folder or the table
        corpus.pieces, dropped = keep_styles(
            label_pieces(corpus.pieces, settings.data, table), settings.min_style_pieces
        )
        print(describe_styles(corpus.pieces, dropped))
    return corpus


def describe_instruments(counts: dict[int, int], learned: bool, plays_as: dict[int, int]) -> str:
    """One line: the instruments that play `counts` notes (`vocab.instruments_used`) with their share,
    whether they are learned, and which play as another (`instruments.instrument_plan`)."""
    total = max(1, sum(counts.values()))

    def share(instrument: int) -> str:  # a tenth of a percent where whole ones would say 0% or 100%
        value = counts[instrument] / total
        return f"{value:{'.1%' if value < 0.01 or value > 0.99 else '.0%'}}"

    listed = ", ".join(f"{instrument_name(t)} {share(t)}" for t in list(counts)[:12])
    more = f" and {len(counts) - 12} more" if len(counts) > 12 else ""
    if learned:
        how = f"{len(counts) - len(plays_as)} learned as a fourth stream"
    else:
        how = f"merged into one, played as {instrument_name(next(iter(counts), PIANO))}"
    line = f"instruments ({len(counts)}, {how}): {listed}{more}"
    if plays_as:
        moved = ", ".join(f"{instrument_name(a)} -> {instrument_name(b)}" for a, b in plays_as.items())
        line += f"; played as another (each under {REAL_SHARE:.0%} of the notes): {moved}"
    return line


def parse_only(settings: TrainSettings) -> None:
    """Print the corpus summary and the size of each vocabulary (built on the training split)."""
    corpus = read_data(settings)
    train, validation = split_pieces(corpus.pieces, settings.val_fraction, settings.seed)
    common_key = settings.key == "common"
    counts = instruments_used(corpus.pieces)
    instruments, plays_as = instrument_plan(counts, settings.instruments)
    print(describe_instruments(counts, instruments, plays_as))
    representation = settings.representation
    seen = prepared(train, representation, common_key, instruments, [0, *shifts(settings.transpose)], plays_as)
    vocabularies = build_vocabularies(seen, settings.min_count, representation, instruments)
    sizes = ", ".join(f"{s} {len(v)}" for s, v in vocabularies.items())
    print(f"pieces: {len(train)} train, {len(validation)} validation; vocabulary sizes: {sizes}")
    if validation:
        counts = unknown_notes(prepare(validation, representation, common_key, instruments, plays_as), vocabularies)
        print(
            f"validation notes outside the vocabularies: {counts['pitch'] / counts['notes']:.1%} by pitch, "
            f"{counts['rhythm'] / counts['notes']:.1%} by rhythm"
        )
