"""Styles: a label per piece (a composer, a genre) that a model can learn and generate on request.

A piece's style is the name of its first sub-folder under the data folder (`my_midis/joplin/a.mid`
is ``joplin``; files at the top level have none), or, with a table (`--styles FILE.csv`, rows of
``path,style``), whatever the table says (pieces it does not list have none). Styles with fewer
pieces than a minimum are trained as unlabelled. A model with styles reads its piece's style index
at every step (`STYLE_KEY`); index 0 is "no style", which label dropout teaches it too.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import replace
from pathlib import Path

from ..files import reason
from .events import Piece

NONE = "<none>"  # index 0 of a checkpoint's styles: the unlabelled mix


class StyleError(Exception):
    """A style table or name that cannot be used; the message names it."""


def folder_style(path: str) -> str | None:
    """The style of a piece at `path` (relative to the data folder): its first sub-folder, or None."""
    parts = Path(path).parts
    return parts[0] if len(parts) > 1 else None


def read_style_table(path: Path | str) -> dict[str, str]:
    """The ``path,style`` rows of a CSV file (a first row ``path,style`` is a header), keyed by the
    path as written; `StyleError` naming the file and row for anything else."""
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise StyleError(f"--styles {path}: cannot read it: {reason(error)}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise StyleError(f"--styles {path}: not a CSV text file ({error})") from error
    table = {}
    for number, row in enumerate(rows, 1):
        if not row or (number == 1 and [c.strip().lower() for c in row] == ["path", "style"]):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise StyleError(f"--styles {path}: row {number} is not 'path,style': {','.join(row)!r}")
        table[row[0].strip()] = row[1].strip()
    return table


def label_pieces(pieces: list[Piece], folder: Path | str, table: dict[str, str] | None = None) -> list[Piece]:
    """`pieces` (paths relative to `folder`) with their styles: from `table` if given (its paths
    relative to `folder`, or absolute), else from their folders."""
    if table is None:
        return [replace(p, style=folder_style(p.path)) for p in pieces]
    resolved = {str((Path(folder) / key).resolve()): style for key, style in table.items()}
    return [replace(p, style=resolved.get(str((Path(folder) / p.path).resolve()))) for p in pieces]


def unmatched_rows(table: dict[str, str], pieces: list[Piece], folder: Path | str) -> list[str]:
    """The paths of style `table` rows that name none of `pieces` (paths relative to `folder`): a
    file outside the folder, misspelt or missing, or one that was skipped."""
    found = {str((Path(folder) / p.path).resolve()) for p in pieces}
    return [key for key in table if str((Path(folder) / key).resolve()) not in found]


def unmatched_warning(table: dict[str, str], pieces: list[Piece], folder: Path | str, source: str) -> str | None:
    """A one-line warning when rows of the style table read from `source` name no piece, or None."""
    missing = unmatched_rows(table, pieces, folder)
    if not missing:
        return None
    return (
        f"warning: --styles {source}: {len(missing)} of {len(table)} rows name no piece under {folder} "
        f"(such as {missing[0]!r}): they label nothing"
    )


def style_counts(pieces: list[Piece]) -> dict[str, tuple[int, int]]:
    """(pieces, events) per style of `pieces`, most pieces first; unlabelled pieces are left out."""
    counts: Counter = Counter()
    events: Counter = Counter()
    for piece in pieces:
        if piece.style is not None:
            counts[piece.style] += 1
            events[piece.style] += len(piece.events)
    return {style: (n, events[style]) for style, n in counts.most_common()}


def keep_styles(pieces: list[Piece], min_pieces: int) -> tuple[list[Piece], dict[str, int]]:
    """`pieces` with the styles of fewer than `min_pieces` pieces taken away (those pieces become
    unlabelled), and the styles taken away with their piece counts."""
    dropped = {style: n for style, (n, _) in style_counts(pieces).items() if n < min_pieces}
    return [replace(p, style=None) if p.style in dropped else p for p in pieces], dropped


def describe_styles(pieces: list[Piece], dropped: dict[str, int]) -> str:
    """One line: the styles with their pieces and events, how uneven they are, and those left out."""
    counts = style_counts(pieces)
    unlabelled = sum(p.style is None for p in pieces)
    if not counts:
        return f"styles: none ({unlabelled} unlabelled pieces)"
    listed = ", ".join(f"{style} {n} pieces/{events} events" for style, (n, events) in counts.items())
    most, least = max(n for n, _ in counts.values()), min(n for n, _ in counts.values())
    line = f"styles ({len(counts)}): {listed}; {unlabelled} unlabelled; largest/smallest {most / least:.1f}x"
    if dropped:
        line += f"; trained unlabelled (too few pieces): {', '.join(f'{s} {n}' for s, n in dropped.items())}"
    return line


def style_index(names: list[str], style: str | None) -> int:
    """The index of `style` among a checkpoint's style `names` (0: none, or a style it does not know)."""
    return names.index(style) + 1 if style in names else 0


def balance_weights(styles: list[str | None], sizes: list[int], power: float) -> list[float]:
    """A loss weight per piece of style `styles[i]` and `sizes[i]` events so that small styles are
    still learned: (mean events per style / events of its style) ** `power` for labelled pieces (0:
    every piece alike), 1 for the others. Events, not pieces, since every event is a target: 60
    short chorales are fewer targets than 12 quartet movements."""
    events: Counter = Counter()
    for style, size in zip(styles, sizes, strict=True):
        if style is not None:
            events[style] += size
    if not events or power == 0:
        return [1.0] * len(styles)
    mean = sum(events.values()) / len(events)
    return [1.0 if style is None else (mean / events[style]) ** power for style in styles]


def resolve_style(name: str, names: list[str], pieces: dict[str, int]) -> int:
    """The index of the style a user asked for, or `StyleError` listing the checkpoint's styles."""
    if not names:
        raise StyleError(f"--style {name}: this checkpoint was trained without styles")
    if name not in names:
        known = ", ".join(f"{n} ({pieces.get(n, 0)} training piece{'s' * (pieces.get(n, 0) != 1)})" for n in names)
        raise StyleError(f"--style {name}: not a style of this checkpoint; it knows {known}")
    return style_index(names, name)
