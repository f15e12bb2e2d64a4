"""The music report: generated pieces against real ones piece by piece (each metric beside the
real 10-90% range), the histograms' distances, the real-vs-generated classifier, per instrument
and per style."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..data.encoding import decode_events, encode_piece
from ..data.events import Event, Piece, join_chords, unknown
from ..data.instruments import instrument_code, instrument_name
from ..data.meter import COMMON, Meter
from ..data.preparation import prepare
from ..data.styles import style_index
from ..data.vocab import same_onset_index
from ..generate.conditions import choose_registers, draw_meters
from .held_out import Loaded, drawn_bars, with_chords
from .metrics import (
    HISTOGRAMS,
    PIECE_METRICS,
    histogram,
    instrument_report,
    js_distance,
    longest_copy,
    percentile_range,
    piece_metrics,
)
from .realness import format_realness, separability, telling
from .realness import segment_features as realness_segments
from .style_report import format_styles, style_report

if TYPE_CHECKING:
    from ..settings import EvaluateSettings

# A piece beyond every real piece in one of these is stuck in a loop (one event or phrase over and
# over); values merely above the real 90th percentile are counted in the table's "outside" column.
LOOP_METRICS = ("longest_run", "loop_share")

MIN_REFERENCE = 10  # real pieces needed at the comparison length


def copy_reference(held_out: list[list[Event]], training: list[list[Event]], size: int) -> list[float]:
    """The longest copies of real pieces over their first `size` events: each held-out piece against
    the training split, and each training piece at least that long against the others (one left out,
    as if held out). A small collection holds out few pieces that long (2 of Palestrina's), and a
    range of one or two numbers is no range."""
    values = [float(longest_copy(h[:size], training)) for h in held_out]
    for i, piece in enumerate(training):
        if len(piece) >= size:
            values.append(float(longest_copy(piece[:size], training[:i] + training[i + 1 :])))
    return values


def histogram_distances(generated: list[list[Event]], real: list[list[Event]]) -> dict:
    """Per histogram kind, the Jensen-Shannon distance of the `generated` pieces' pooled histogram
    from the `real` ones', beside the distance between two halves of the real pieces."""
    halves = (real[0::2], real[1::2])
    return {
        kind: {
            "generated_vs_real": js_distance(histogram(generated, kind), histogram(real, kind)),
            "real_vs_real": js_distance(histogram(halves[0], kind), histogram(halves[1], kind)),
        }
        for kind in HISTOGRAMS
    }


def music_report(
    generated: list[list[Event]],
    real: list[list[Event]],
    held_out: list[list[Event]],
    training: list[list[Event]],
    meters: tuple[list, list] | None = None,
) -> dict:
    """Per-piece metrics of generated vs real pieces and histogram distances, as one JSON-ready dict;
    with `meters` (the time signatures of each generated and each real piece) the beat rows too."""
    gen_meters, real_meters = meters or ([None] * len(generated), [None] * len(real))
    gen_values = [piece_metrics(g, training, m) for g, m in zip(generated, gen_meters, strict=True)]
    real_values = [piece_metrics(r, None, m) for r, m in zip(real, real_meters, strict=True)]
    copy_values = copy_reference(held_out, training, max(map(len, generated), default=0))
    per_piece = {}
    outside_gen = outside_real = counted_gen = counted_real = 0
    for name in (n for n in PIECE_METRICS if not gen_values or n in gen_values[0]):
        reference = copy_values if name == "longest_copy" else [v[name] for v in real_values]
        values = [v[name] for v in gen_values]
        if not reference:
            per_piece[name] = {"generated": values, "generated_median": float(np.median(values))}
            continue
        p10, median, p90 = percentile_range(reference)
        outside = [not p10 <= v <= p90 for v in values]
        real_outside = sum(not p10 <= v <= p90 for v in reference)
        outside_gen += sum(outside)
        counted_gen += len(values)
        outside_real += real_outside
        counted_real += len(reference)
        gen_median = float(np.median(values))
        per_piece[name] = {
            "real_p10": p10,
            "real_median": median,
            "real_p90": p90,
            "real_max": float(max(reference)),
            "real_pieces": len(reference),
            "real": reference,  # in the order of `real` (the copy row: its own reference pieces)
            "generated": values,
            "generated_median": gen_median,
            "median_inside": p10 <= gen_median <= p90,
            "generated_outside": sum(outside),
            "real_outside": real_outside,
        }
    loops = [
        i
        for i, v in enumerate(gen_values)
        if any(name in per_piece and v[name] > per_piece[name].get("real_max", math.inf) for name in LOOP_METRICS)
    ]
    return {
        "per_piece": per_piece,
        "across": histogram_distances(generated, real),
        "loops": loops,
        "generated_outside_share": outside_gen / counted_gen if counted_gen else 0.0,
        "real_outside_share": outside_real / counted_real if counted_real else 0.0,
    }


def comparison_length(length: int, real_lengths: list[int], minimum: int = MIN_REFERENCE) -> int:
    """Events over which generated and real pieces are compared: `length`, or less when fewer than
    `minimum` real pieces are that long (most metrics grow with length, so pieces are compared at
    equal length)."""
    longest = sorted(real_lengths, reverse=True)
    return min(length, longest[min(minimum, len(longest)) - 1])


def per_style_music(
    generated: dict[str, list[list[Event]]], real: list[Piece], unseen: list[Piece], training: list[list[Event]]
) -> dict:
    """The music report of each style's generated pieces (note events) against that style's real
    pieces (`real`: with chords whole, labelled) and held-out pieces (`unseen`, for the copy length)."""
    out = {}
    for name, pieces in generated.items():
        made = [join_chords(events) for events in pieces]
        own = [p for p in real if p.style == name]
        if not own:
            continue
        size = comparison_length(
            min(map(len, made)), [len(p.events) for p in own], minimum=min(MIN_REFERENCE, len(own))
        )
        held = [join_chords(p.events)[:size] for p in unseen if p.style == name]
        compared = [p.events[:size] for p in own if len(p.events) >= size]
        out[name] = music_report([m[:size] for m in made], compared, held, training)
        out[name]["compared_length"], out[name]["real_pieces"] = size, len(compared)
    return out


def sampling_length(events: int, representation: str, training: list[list[Event]]) -> int:
    """Steps to sample for pieces of `events` notes and chords: with note-level events, enough notes
    for that many onsets at 1.5 times the training pieces' notes per event."""
    if representation == "chord":
        return events
    notes = sum(len(e.pitches) for piece in training for e in piece if not unknown(e))
    return math.ceil(1.5 * events * notes / max(1, sum(map(len, training))))


def format_report(report: dict) -> str:
    """The music table: real range beside generated medians; `*` marks a median outside the range."""
    lines = [f"{'metric':<18}{'real p10':>10}{'median':>10}{'p90':>10}{'generated':>11}  outside"]
    for name, row in report["per_piece"].items():
        if "real_median" not in row:
            lines.append(f"{name:<18}{'-':>10}{'-':>10}{'-':>10}{row['generated_median']:>11.2f}")
            continue
        mark = " " if row["median_inside"] else "*"
        lines.append(
            f"{name:<18}{row['real_p10']:>10.2f}{row['real_median']:>10.2f}{row['real_p90']:>10.2f}"
            f"{row['generated_median']:>10.2f}{mark}  {row['generated_outside']}/{len(row['generated'])}"
        )
        if name == "longest_copy":  # its real range comes from other pieces than the rest's
            lines[-1] += f"  (real range from {row['real_pieces']} pieces: held out, or one left out)"
    lines.append(
        f"values outside the real 10-90% range: generated {report['generated_outside_share']:.0%}, "
        f"real {report['real_outside_share']:.0%}"
    )
    for kind, row in report["across"].items():
        lines.append(
            f"{kind} histogram JS distance: generated vs real {row['generated_vs_real']:.3f} "
            f"(real half vs half {row['real_vs_real']:.3f})"
        )
    loops = report["loops"]
    listed = f" (pieces {', '.join(str(i + 1) for i in loops)})" if loops else ""
    lines.append(f"pieces stuck in loops: {len(loops)}{listed}")
    if "realness" in report:
        lines.append(format_realness(report["realness"]))
    if "instruments" in report:
        lines.append(format_instruments(report["instruments"]))
    return "\n".join(lines)


def format_instruments(report: dict) -> str:
    """The per-instrument table: event share and pitch range (real 10-90% range, generated median;
    `*` marks a median outside it) and the share of generated notes outside the instrument's real pitches."""
    lines = [
        f"{'instrument':<24}{'pieces':>8}{'event share real':>20}{'gen':>8}{'pitch range real':>20}{'gen':>8}"
        f"{'notes outside':>15}"
    ]
    for token, row in report.items():
        cells = []
        for name in ("event_share", "pitch_range"):
            cell = row[name]
            gen = cell["generated_median"]
            real = f"{cell['real_p10']:.2f}-{cell['real_p90']:.2f}" if "real_p10" in cell else "-"
            mark = "" if cell.get("median_inside", True) else "*"
            cells.append(f"{real:>20}{'-' if gen is None else f'{gen:.2f}':>7}{mark or ' '}")
        outside = row.get("notes_outside_range")
        pieces = f"{row['real_pieces']}/{row['generated_pieces']}"
        share = "-" if outside is None else f"{outside:.1%}"
        lines.append(f"{instrument_name(instrument_code(token))[:23]:<24}{pieces:>8}{''.join(cells)}{share:>15}")
    lines.append("(pieces: real/generated pieces it plays in; ranges over those pieces)")
    return "\n".join(lines)


def realness_report(
    loaded: Loaded, real: list[Piece], generated: list[list[Event]], meters: list[list[Meter]], seed: int
) -> dict:
    """How well a classifier tells segments of the held-out real pieces among `real` (chords whole)
    from the `generated` ones (`realness.separability`), beside how well it tells them from the
    training pieces among `real` (the floor: real music against itself; up to three training pieces
    per held-out one, drawn with `seed`), and what tells generated from real most (`realness.telling`)."""
    trained = set(loaded.metadata.train_pieces)
    held = [realness_segments(list(p.events), p.meters) for p in real if p.path not in trained]
    training = [p for p in real if p.path in trained]
    drawn = np.random.default_rng(seed).permutation(len(training))[: 3 * max(1, len(held))]
    floor = [realness_segments(list(training[i].events), training[i].meters) for i in sorted(drawn)]
    made = [realness_segments(events, m) for events, m in zip(generated, meters, strict=True)]
    told = {"generated": separability(held, made, seed), "floor": separability(held, floor, seed)}
    return told | {"telling": telling(held, made, seed)}


def compare_music(
    settings: EvaluateSettings, loaded: Loaded, pieces: list[Piece], seen: list[Piece]
) -> tuple[dict, list[list[Event]], list[list[Event]]]:
    """Generate `--generate` pieces and report them against the real `pieces` (per style and per
    instrument too, where the checkpoint has them); return the report, the generated pieces and
    the real pieces as compared."""
    from ..generate.sampling import Sampler

    representation, common_key = loaded.metadata.representation, loaded.metadata.common_key
    vocabularies, training = loaded.vocabularies, loaded.training
    sampling = settings.sampling_settings(loaded.metadata)
    registers = choose_registers(loaded.metadata.registers, settings.generate, settings.seed)
    sampler = Sampler(loaded.model, same_onset_index(vocabularies, representation))  # compiles its step once
    length = sampling_length(settings.length, representation, training)
    meters = draw_meters(loaded.metadata, settings.generate, settings.seed)
    bars = drawn_bars(loaded, meters)
    sampled = sampler.generate(length, settings.generate, sampling, settings.seed, registers=registers, bars=bars)
    generated = [join_chords(decode_events(rows, vocabularies))[: settings.length] for rows in sampled]
    # real pieces as the model saw them (in the common key, if it was trained so), with chords whole
    real_pieces = prepare(pieces, "chord", common_key, loaded.instruments, loaded.metadata.plays_as)
    size = comparison_length(min(map(len, generated)), [len(p.events) for p in real_pieces])
    compared = [p for p in real_pieces if len(p.events) >= size]
    reference = [p.events[:size] for p in compared]
    unseen = [p for p in seen if len(join_chords(p.events)) >= size] or seen
    unseen_events = [with_chords(decode_events(encode_piece(p, vocabularies)[1:], vocabularies))[:size] for p in unseen]
    timed = ([[m] for m in meters] or [[COMMON]] * len(generated), [p.meters for p in compared])
    report = music_report([g[:size] for g in generated], reference, unseen_events, training, timed)
    report["realness"] = realness_report(loaded, real_pieces, generated, timed[0], settings.seed)
    report["sampling"] = {
        "temperature": sampling.temperature,
        "top_k": settings.top_k,
        "top_p": settings.top_p,
        "repeat_weights": sampling.repeat_weights,
        "pitch_window": sampling.pitch_window,
    }
    report["length"], report["compared_length"], report["seed"] = settings.length, size, settings.seed
    report["real_pieces"] = len(reference)
    if loaded.metadata.styles:
        styles = [style_index(loaded.metadata.styles, p.style) for p in seen]
        report["styles"], by_style = style_report(sampler, sampling, settings, loaded, seen, styles)
        report["styles_music"] = per_style_music(by_style, real_pieces, seen, training)
    if loaded.instruments:
        report["instruments"] = instrument_report([g[:size] for g in generated], reference)
    return report, generated, reference


def print_music(settings: EvaluateSettings, report: dict) -> None:
    """The music tables: all generated pieces, then each of the largest styles against its own."""
    size = report["compared_length"]
    print(
        f"\n{settings.generate} generated pieces of {settings.length} events vs the {report['real_pieces']} real "
        f"pieces of at least {size} events, compared over their first {size} events"
    )
    print(format_report(report))
    if "styles" not in report:
        return
    print(f"\nstyles: {settings.generate} pieces of {settings.length} events generated with each of the largest")
    print(format_styles(report["styles"]))
    for name, music in report["styles_music"].items():
        inside = sum(row.get("median_inside", True) for row in music["per_piece"].values())
        print(
            f"{name}: against its own {music['real_pieces']} real pieces "
            f"over {music['compared_length']} events, values outside the real 10-90% range: generated "
            f"{music['generated_outside_share']:.0%}, real {music['real_outside_share']:.0%}; medians "
            f"inside {inside} of {len(music['per_piece'])}; loops {len(music['loops'])}"
        )
