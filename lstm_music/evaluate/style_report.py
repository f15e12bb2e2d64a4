"""The style report: how often a classifier fitted on real held-out pieces recognises the pieces
generated in each of a checkpoint's largest styles."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..data.encoding import decode_events, split_encoded
from ..data.events import Event, unknown
from ..data.styles import style_index
from ..generate.conditions import choose_registers, draw_meters
from ..generate.sampling import SamplingSettings
from .held_out import Loaded, drawn_bars
from .metrics import (
    style_accuracy,
    style_features,
)

if TYPE_CHECKING:
    from ..settings import EvaluateSettings

STYLES_COMPARED = 3  # the largest styles (by training pieces) that the style report generates

SEGMENTS = 4  # real segments per held-out piece at most


def segment_features(events: list[Event], size: int) -> list[np.ndarray]:
    """`metrics.style_features` of the first `SEGMENTS` stretches of `size` events of a piece (the
    whole piece if shorter), so that long pieces do not outweigh short ones."""
    cuts = range(0, max(1, len(events) - size + 1), size)
    return [style_features(events[i : i + size]) for i in list(cuts)[:SEGMENTS]]


def training_segments(loaded: Loaded, size: int) -> dict[str, list[np.ndarray]]:
    """Per style, `segment_features` of the checkpoint's training pieces (events holding ``<unk>``
    left out), labelled by the style index the checkpoint records for each; empty for a checkpoint
    that records none."""
    labels = loaded.metadata.training.get("train_styles") or loaded.metadata.register_styles
    pieces = split_encoded(loaded.train_rows) if labels and loaded.train_rows is not None else []
    if len(pieces) != len(labels or []):  # none recorded, or not one per piece: nothing to label them by
        return {}
    out: dict[str, list[np.ndarray]] = {}
    for rows, index in zip(pieces, labels, strict=True):
        if index:
            events = [e for e in decode_events(rows[1:], loaded.vocabularies) if not unknown(e)]
            out.setdefault(loaded.metadata.styles[index - 1], []).extend(segment_features(events, size))
    return out


def style_report(
    sampler, sampling: SamplingSettings, settings: EvaluateSettings, loaded: Loaded, seen, styles
) -> tuple[dict, dict[str, list[list[Event]]]]:
    """Generate `settings.generate` pieces of `settings.length` events in each of the largest styles and say
    how often a classifier fitted on the real held-out pieces (`metrics.style_accuracy`) recognises
    them, beside how often it recognises the real held-out pieces and the training pieces of the
    same style; also return the generated pieces of each style."""
    metadata, vocabularies = loaded.metadata, loaded.vocabularies
    names, pieces = metadata.styles, metadata.style_pieces
    largest = sorted(names, key=lambda n: -pieces.get(n, 0))[:STYLES_COMPARED]
    size = settings.length
    real: dict[str, list] = {name: [] for name in names}
    for piece, index in zip(seen, styles, strict=True):
        if index:
            real[names[index - 1]].append(segment_features(piece.events, size))
    generated, features = {}, {}
    for name in largest:
        index = style_index(names, name)
        registers = choose_registers(
            metadata.registers, settings.generate, settings.seed, None, metadata.register_styles, index
        )
        bars = drawn_bars(loaded, draw_meters(loaded.metadata, settings.generate, settings.seed, index))
        count, seed = settings.generate, settings.seed
        rows = sampler.generate(size, count, sampling, seed, registers=registers, style=index, bars=bars)
        generated[name] = [decode_events(r, vocabularies) for r in rows]
        features[name] = [style_features(events) for events in generated[name]]
    report = style_accuracy({n: real[n] for n in names if real[n]}, features, training_segments(loaded, size))
    empty = {"real_segments": 0, "generated_pieces": settings.generate}
    return {name: report.get(name, empty) for name in largest}, generated


def format_styles(report: dict) -> str:
    """The style table: how often real held-out, generated and training pieces of each style are recognised."""

    def share(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    def line(name: str, *cells) -> str:  # the name left-aligned, each cell right-aligned in its column
        widths = (14, 12, 11, 12, 10, 19, 12, 10)
        return f"{name[:19]:<20}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))

    columns = ("real segments", "recognised", "generated", "recognised", "relative")
    lines = [line("style", *columns, "training segments", "recognised", "relative")]
    for name, row in report.items():
        real, made = share(row.get("real_accuracy"), ".0%"), share(row.get("generated_accuracy"), ".0%")
        cells = (row["real_segments"], real, row["generated_pieces"], made, share(row.get("relative"), ".2f"))
        shown = share(row.get("training_accuracy"), ".0%"), share(row.get("training_relative"), ".2f")
        lines.append(line(name, *cells, row.get("training_segments", 0), *shown))
    lines.append("(a nearest-centroid classifier on pitch-class, interval, duration and offset histograms, fitted on")
    lines.append(" the real held-out pieces only; real pieces are classified with their own piece left out. The")
    lines.append(" training pieces' relative share is what a model that wrote them again would score)")
    return "\n".join(lines)
