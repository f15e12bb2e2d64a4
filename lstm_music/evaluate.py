"""Score a checkpoint on held-out pieces and, with `--generate`, compare its music with real music.

    python -m lstm_music.evaluate --checkpoint weights/RUN --data midi_songs
    python -m lstm_music.evaluate --checkpoint weights/RUN --data midi_songs --generate 10 --json report.json

Held-out scoring: every piece in `--data` that the checkpoint did not train on (pieces listed in
its training split are left out, so the training folder itself yields its validation split) is
run through the network from ``<start>`` to its end; per head it prints accuracy and
cross-entropy in nats per event, beside an order-3 Witten-Bell n-gram baseline fitted on the
training split stored in the checkpoint, and the cross-entropy with the checkpoint's repeat
memory mixed in (when it has repeat weights). Since representations cut music into different
events, whole pieces are also scored in nats per note (`nats_per_note`: the negative
log-likelihood of all heads over the notes the pieces sound) for the network, the network with its
repeat memory and the n-gram on the same tokens; `unknown_share` is the share of held-out notes
whose pitch or chord the checkpoint's vocabulary cannot represent, `unknown_rhythm_share` the share
whose offset or duration it lacks (a warning is printed when either is above 1%).

Music report (`--generate N`, default 10 pieces of 500 events, seed 0; notes and chords are
counted as events, so a note-level model samples notes until its pieces hold that many): per-piece
metrics of the generated pieces beside the real pieces' 10th percentile, median and 90th percentile, with every
piece compared over the same number of events (most metrics grow with length: real pieces shorter
than the generated ones are left out, unless fewer than 10 are long enough, in which case all are
compared over the length of the 10th longest), with every value outside the real
range counted and marked; and Jensen-Shannon distances between the pooled pitch-class, duration
and offset histograms of generated and real pieces, beside the same distance between two halves
of the real pieces. A piece is listed as stuck in a loop when its longest run of one event or
its share of recurring phrases goes beyond every real piece.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio import AudioError, load_soundfont
from .backend import check_backend, set_verbose
from .baseline import fit_baselines, score_baseline
from .cli import (
    EITHER,
    FILE,
    FOLDER,
    check_paths,
    exit_status,
)
from .corpus import DataError, load_corpus, parser_difference
from .files import reason, write_atomically
from .instruments import instrument_name
from .meter import COMMON, Meter
from .metrics import (
    HISTOGRAMS,
    PIECE_METRICS,
    histogram,
    instrument_report,
    js_distance,
    longest_copy,
    percentile_range,
    piece_metrics,
    style_accuracy,
    style_features,
)
from .midi_io import Event, Piece, event_onsets, join_chords
from .realness import format_realness, separability
from .realness import segment_features as realness_segments
from .repeats import mixed_cross_entropy
from .sampling import Bars, SamplingSettings, choose_registers, draw_meters, make_bars
from .scoring import score_model, target_probabilities
from .settings import EvaluateSettings, parse
from .streams import INSTRUMENT, STREAMS, UNK, streams_of
from .styles import StyleError, label_pieces, read_style_table, style_index, unmatched_warning
from .vocab import (
    Vocabulary,
    build_vocabularies,
    decode_events,
    encode_piece,
    encode_positions,
    prepare,
    split_encoded,
    together_index,
    unknown_notes,
    unknown_warning,
)

if TYPE_CHECKING:
    from .checkpoint import Metadata

# A piece beyond every real piece in one of these is stuck in a loop (one event or phrase over and
# over); values merely above the real 90th percentile are counted in the table's "outside" column.
LOOP_METRICS = ("longest_run", "loop_share")
MIN_REFERENCE = 10  # real pieces needed at the comparison length


def held_out_pieces(pieces: list[Piece], data: Path, metadata: Metadata) -> list[Piece]:
    """The pieces of `data` that are not in the checkpoint's training split."""
    trained = {(Path(metadata.training["data"]) / name).resolve() for name in metadata.train_pieces}
    return [p for p in pieces if (data / p.path).resolve() not in trained]


def without_training_copies(loaded: Loaded, held_out: list[Piece], seen: list[Piece], data: Path) -> tuple:
    """`held_out` and the same pieces `seen` (as prepared for the model) less those whose encoded
    events are a training piece's: a copy under another name or in another folder, which
    `held_out_pieces` cannot tell by its path, and which would flatter every score."""
    from .checkpoint import fingerprint

    trained = {fingerprint(rows) for rows in split_encoded(loaded.train_rows)}  # digests: rows may be on disk
    keep = [fingerprint(encode_piece(p, loaded.vocabularies)) not in trained for p in seen]
    copies = [p.path for p, kept in zip(held_out, keep, strict=True) if not kept]
    if copies and not any(keep):
        raise DataError(f"every piece in {data} is a copy of one of the checkpoint's training pieces: nothing held out")
    if copies:
        print(
            f"note: {data} holds {len(copies)} of the checkpoint's training pieces under other paths "
            f"(such as {copies[0]}): they are not held out"
        )
    return [p for p, k in zip(held_out, keep, strict=True) if k], [p for p, k in zip(seen, keep, strict=True) if k]


def score_ngram(train_rows: np.ndarray, arrays: list[np.ndarray], vocabularies: dict[str, Vocabulary]) -> dict:
    """The n-gram baseline's per-head accuracy and cross-entropy over the same pieces."""
    models = fit_baselines(train_rows, {s: len(v) for s, v in vocabularies.items()})
    out = {}
    for i, s in enumerate(streams_of(vocabularies)):
        results = [score_baseline(models[s], a[:, i]) for a in arrays]
        total = sum(r[2] for r in results)
        out[s] = {"accuracy": sum(r[1] for r in results) / total, "cross_entropy": sum(r[0] for r in results) / total}
    return out


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
    halves = (real[0::2], real[1::2])
    across = {
        kind: {
            "generated_vs_real": js_distance(histogram(generated, kind), histogram(real, kind)),
            "real_vs_real": js_distance(histogram(halves[0], kind), histogram(halves[1], kind)),
        }
        for kind in HISTOGRAMS
    }
    return {
        "per_piece": per_piece,
        "across": across,
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


def nats_per_note(scores: dict, events: int, notes: int) -> float:
    """Whole-piece negative log-likelihood over the notes sounded, from per-event cross-entropies."""
    return sum(head["cross_entropy"] for head in scores.values()) * events / notes


def other_styles(styles: list[int], count: int, seed: int) -> list[int]:
    """Each labelled piece's style index replaced by another of the `count` styles drawn at random
    (by none when there is only one); unlabelled pieces stay unlabelled."""
    rng = np.random.default_rng(seed)
    if count < 2:
        return [0] * len(styles)
    return [0 if s == 0 else int(rng.choice([i for i in range(1, count + 1) if i != s])) for s in styles]


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
            events = [e for e in decode_events(rows[1:], loaded.vocabularies) if UNK not in e]
            out.setdefault(loaded.styles[index - 1], []).extend(segment_features(events, size))
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


def with_chords(events: list[Event]) -> list[Event]:
    """Decoded events with chords whole (`join_chords`); an event holding ``<unk>`` stays as it is,
    between the joined stretches, so it is never counted as copied."""
    out: list[Event] = []
    start = 0
    for i, event in enumerate([*events, Event(UNK, "0", "0")]):
        if UNK in event:
            out += join_chords(events[start:i]) + events[i : i + 1]
            start = i + 1
    return out


def known_chord_nats(
    seen: list[Piece], probabilities: list[np.ndarray], training: list[list[Event]], min_count: int
) -> float:
    """Nats per note over the held-out notes whose whole chord, offset and duration each occur at least
    `min_count` times in the training split: the notes that whole-chord tokens can read too, so
    representations compare there without ``<unk>`` flattering either."""
    known = build_vocabularies([Piece("", events) for events in training], min_count, "chord")
    nats = notes = 0.0
    for piece, probs in zip(seen, probabilities, strict=True):
        cost_at: dict[tuple, float] = defaultdict(float)  # nats of all heads, per chord's onset and length
        costs = -np.log(np.maximum(probs, 1e-12)).sum(axis=1)
        for (start, length, _, instrument), cost in zip(event_onsets(piece.events), costs, strict=True):
            cost_at[(start, length, instrument)] += cost
        chords = join_chords(piece.events)
        for chord, (start, length, pitches, instrument) in zip(chords, event_onsets(chords), strict=True):
            if all(chord[i] in known[s].index for i, s in enumerate(STREAMS)):
                nats += cost_at[(start, length, instrument)]
                notes += len(pitches)
    return float(nats / notes) if notes else float("nan")


def sampling_length(events: int, representation: str, training: list[list[Event]]) -> int:
    """Steps to sample for pieces of `events` notes and chords: with note-level events, enough notes
    for that many onsets at 1.5 times the training pieces' notes per event."""
    if representation == "chord":
        return events
    notes = sum(len(e.pitches) for piece in training for e in piece if e.note != UNK)
    return math.ceil(1.5 * events * notes / max(1, sum(map(len, training))))


def format_held_out(scores: dict) -> str:
    """The held-out table: per head, the network's and the n-gram baseline's numbers (and the network's
    cross-entropy with the checkpoint's repeat memory mixed in, when it has one)."""
    repeats = scores.get("model_with_repeats")
    lines = [f"{'head':<10}{'accuracy':>10}{'n-gram':>10}{'nats/event':>12}{'n-gram':>10}"]
    lines[0] += f"{'with repeats':>14}" if repeats else ""
    for s in scores["model"]:
        m, b = scores["model"][s], scores["ngram"][s]
        lines.append(
            f"{s:<10}{m['accuracy']:>10.3f}{b['accuracy']:>10.3f}{m['cross_entropy']:>12.3f}{b['cross_entropy']:>10.3f}"
        )
        lines[-1] += f"{repeats[s]['cross_entropy']:>14.3f}" if repeats else ""
    per_note = scores["nats_per_note"]
    line = f"nats per note: network {per_note['model']:.3f}, n-gram {per_note['ngram']:.3f}"
    if "model_with_repeats" in per_note:
        line += f", network with repeats {per_note['model_with_repeats']:.3f}"
    known = f"network on the notes of chords a whole-chord vocabulary knows: {scores['nats_per_known_chord_note']:.3f}"
    lines += [line, known]
    if "nats_per_note_styles" in scores:
        styles = scores["nats_per_note_styles"]
        lines.append(
            f"nats per note with each piece's true style {styles['true']:.3f}, with another style "
            f"{styles['shuffled']:.3f} ({styles['labelled_pieces']} labelled pieces)"
        )
    return "\n".join(lines)


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
        lines.append(f"{instrument_name(token)[:23]:<24}{pieces:>8}{''.join(cells)}{share:>15}")
    lines.append("(pieces: real/generated pieces it plays in; ranges over those pieces)")
    return "\n".join(lines)


@dataclass
class Loaded:
    """A checkpoint opened for evaluation, with what every step takes from it."""

    path: Path
    model: Any
    metadata: Metadata
    vocabularies: dict[str, Vocabulary]
    train_rows: np.ndarray | None  # the encoded training split (None until `rebuild_split` if not stored)

    @cached_property
    def training(self) -> list[list[Event]]:
        """The training split's pieces, chords whole (for copies and known chords); read once the
        split is known."""
        rows = split_encoded(self.train_rows)
        return [with_chords(decode_events(r[1:], self.vocabularies)) for r in rows]

    @property
    def seen_as(self) -> tuple[str, bool]:
        """(representation, common key) of the checkpoint."""
        return self.metadata.representation, self.metadata.common_key

    @property
    def styles(self) -> list[str]:
        return self.metadata.styles

    @property
    def instruments(self) -> bool:
        return INSTRUMENT in self.vocabularies

    @property
    def meters(self) -> list[str]:
        """The time signatures the model reads (none: it reads no meter)."""
        return self.metadata.meters

    @property
    def plays_as(self) -> dict[str, str]:
        """The instruments the model plays as another (too rare to learn: `instruments.instrument_plan`)."""
        return self.metadata.plays_as


def open_checkpoint(settings: EvaluateSettings) -> Loaded:
    """Load the checkpoint `settings` names with its training split (the n-gram needs it) where its
    run folder has it (`rebuild_split` makes it again otherwise)."""
    from .checkpoint import load_checkpoint, read_train_rows, resolve_checkpoint

    path = resolve_checkpoint(settings.checkpoint, settings.weights_dir)
    model, metadata, vocabularies = load_checkpoint(path)
    difference = parser_difference(metadata.parser)
    if difference:
        print(difference)
    return Loaded(path, model, metadata, vocabularies, read_train_rows(path, metadata))


def rebuild_split(loaded: Loaded, pieces: list[Piece], data: Path) -> None:
    """Encode the checkpoint's training pieces again from `pieces` (those of `--data`) when its run
    folder does not hold the split (a checkpoint copied on its own), and say whether the result is
    the training run's (by the fingerprint the checkpoint records)."""
    from .checkpoint import TRAIN_ROWS, CheckpointError, fingerprint

    names = loaded.metadata.train_pieces
    found = {p.path: p for p in pieces}
    missing = [name for name in names if name not in found]
    if missing:
        raise CheckpointError(
            f"{loaded.path}: no {TRAIN_ROWS} beside it, and {data} lacks {len(missing)} of its {len(names)} "
            f"training pieces (such as {missing[0]}) to rebuild it from: give the training folder as --data"
        )
    representation, common_key = loaded.seen_as
    seen = prepare([found[name] for name in names], representation, common_key, loaded.instruments, loaded.plays_as)
    loaded.train_rows = np.concatenate([encode_piece(p, loaded.vocabularies) for p in seen])
    same = fingerprint(loaded.train_rows) == (loaded.metadata.train_rows or {}).get("sha256")
    how = (
        "the same as the training run's" if same else "changed since training: the n-gram is fitted on them as they are"
    )
    print(
        f"note: no {TRAIN_ROWS} beside {loaded.path.name}; the n-gram's training split was rebuilt from {data}: {how}"
    )


def read_held_out(settings: EvaluateSettings, loaded: Loaded) -> tuple[list[Piece], list[Piece]]:
    """Every piece of `--data` (labelled with its style where the checkpoint has styles) and the
    held-out ones among them."""
    data = Path(settings.data)
    drums = loaded.metadata.drums
    pieces = load_corpus(data, settings.cache_dir, settings.workers or None, progress=False, drums=drums).pieces
    if loaded.styles:  # each piece's style, read as training read it (or from --styles)
        table = read_style_table(settings.styles) if settings.styles != "folders" else None
        warning = None if table is None else unmatched_warning(table, pieces, data, settings.styles)
        if warning:
            print(warning, file=sys.stderr)
        pieces = label_pieces(pieces, data, table)
    held_out = held_out_pieces(pieces, data, loaded.metadata)
    if not held_out:
        raise DataError(f"every piece in {data} is in the checkpoint's training split: nothing held out to score")
    return pieces, held_out


def score_held_out(loaded: Loaded, seen: list[Piece], notes: int, seed: int) -> dict:
    """Per head and per note (over the `notes` they sound), the network's (with and without its
    repeat memory) and the n-gram's scores of the held-out pieces `seen`; with styles, also told a
    wrong style."""
    arrays = [encode_piece(p, loaded.vocabularies) for p in seen]
    events = sum(len(a) - 1 for a in arrays)
    styles = [style_index(loaded.styles, p.style) for p in seen] if loaded.styles else None
    places = [encode_positions(p, Vocabulary(loaded.meters)) for p in seen] if loaded.meters else None
    probabilities, correct = target_probabilities(loaded.model, arrays, styles=styles, positions=places)
    ngram = score_ngram(loaded.train_rows, arrays, loaded.vocabularies)
    scores = {"model": score_model(probabilities, correct), "ngram": ngram}
    if loaded.metadata.repeat_weights:
        together = together_index(loaded.vocabularies, loaded.seen_as[0])
        order = loaded.model.music_layers.order
        mixed = mixed_cross_entropy(arrays, probabilities, loaded.metadata.repeat_weights, together, order)
        scores["model_with_repeats"] = {s: {"cross_entropy": mixed[s]} for s in streams_of(loaded.vocabularies)}
    scores["nats_per_note"] = {name: nats_per_note(scores[name], events, notes) for name in list(scores)}
    minimum = loaded.metadata.min_count
    scores["nats_per_known_chord_note"] = known_chord_nats(seen, probabilities, loaded.training, minimum)
    if styles:  # the same pieces told another style: the label must carry information
        wrong = other_styles(styles, len(loaded.styles), seed)
        shuffled = score_model(*target_probabilities(loaded.model, arrays, styles=wrong, positions=places))
        scores["nats_per_note_styles"] = {
            "true": scores["nats_per_note"]["model"],
            "shuffled": nats_per_note(shuffled, events, notes),
            "labelled_pieces": sum(s > 0 for s in styles),
        }
    return scores


def drawn_bars(loaded: Loaded, meters: list[Meter]) -> Bars | None:
    """The `Bars` of pieces in `meters` (None without meter)."""
    return make_bars(loaded.meters, meters, loaded.vocabularies["offset"].tokens) if meters else None


def realness_report(
    loaded: Loaded, real: list[Piece], generated: list[list[Event]], meters: list[list[Meter]], seed: int
) -> dict:
    """How well a classifier tells segments of the held-out real pieces among `real` (chords whole)
    from the `generated` ones (`realness.separability`), beside how well it tells them from the
    training pieces among `real` (the floor: real music against itself; up to three training pieces
    per held-out one, drawn with `seed`)."""
    trained = set(loaded.metadata.train_pieces)
    held = [realness_segments(list(p.events), p.meters) for p in real if p.path not in trained]
    training = [p for p in real if p.path in trained]
    drawn = np.random.default_rng(seed).permutation(len(training))[: 3 * max(1, len(held))]
    floor = [realness_segments(list(training[i].events), training[i].meters) for i in sorted(drawn)]
    made = [realness_segments(events, m) for events, m in zip(generated, meters, strict=True)]
    return {"generated": separability(held, made, seed), "floor": separability(held, floor, seed)}


def compare_music(
    settings: EvaluateSettings, loaded: Loaded, pieces: list[Piece], seen: list[Piece]
) -> tuple[dict, list[list[Event]], list[list[Event]]]:
    """Generate `--generate` pieces and report them against the real `pieces` (per style and per
    instrument too, where the checkpoint has them); return the report, the generated pieces and
    the real pieces as compared."""
    from .sampling import Sampler

    representation, common_key = loaded.seen_as
    vocabularies, training = loaded.vocabularies, loaded.training
    sampling = settings.sampling_settings(loaded.metadata)
    registers = choose_registers(loaded.metadata.registers, settings.generate, settings.seed)
    sampler = Sampler(loaded.model, together_index(vocabularies, representation))  # compiles its step once
    length = sampling_length(settings.length, representation, training)
    meters = draw_meters(loaded.metadata, settings.generate, settings.seed)
    bars = drawn_bars(loaded, meters)
    sampled = sampler.generate(length, settings.generate, sampling, settings.seed, registers=registers, bars=bars)
    generated = [join_chords(decode_events(rows, vocabularies))[: settings.length] for rows in sampled]
    # real pieces as the model saw them (in the common key, if it was trained so), with chords whole
    real_pieces = prepare(pieces, "chord", common_key, loaded.instruments, loaded.plays_as)
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
    if loaded.styles:
        styles = [style_index(loaded.styles, p.style) for p in seen]
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


def write_outputs(settings: EvaluateSettings, result: dict, pages: dict, soundfont: bytes | None) -> None:
    """Write `--json` (every number) and `--html` (the report page with the pieces in `pages`)."""
    if settings.json:
        try:
            write_atomically(Path(settings.json), lambda temporary: temporary.write_text(json.dumps(result, indent=2)))
        except OSError as error:
            raise DataError(f"--json {settings.json}: cannot write it: {reason(error)}") from error
        print(f"wrote {settings.json}")
    if settings.html:
        from .report_page import write_report_page

        try:
            write_report_page(Path(settings.html), result, **pages, soundfont=soundfont)
        except OSError as error:
            raise DataError(f"--html {settings.html}: cannot write it: {reason(error)}") from error
        print(f"wrote {settings.html}")


def evaluate(settings: EvaluateSettings) -> dict:
    """Run the held-out scoring (and the music report with `--generate`); print tables; write
    `--json` and `--html`; return the numbers."""
    soundfont = load_soundfont(settings.soundfont) if settings.html else None  # a bad SoundFont stops at once
    loaded = open_checkpoint(settings)
    representation, common_key = loaded.seen_as
    pieces, held_out = read_held_out(settings, loaded)
    if loaded.train_rows is None:
        rebuild_split(loaded, pieces, Path(settings.data))
    seen = prepare(held_out, representation, common_key, loaded.instruments, loaded.plays_as)
    held_out, seen = without_training_copies(loaded, held_out, seen, Path(settings.data))
    unknown = unknown_notes(seen, loaded.vocabularies)
    notes, events = unknown["notes"], sum(len(p.events) for p in seen)
    scores = score_held_out(loaded, seen, notes, settings.seed)
    result = {
        "checkpoint": str(loaded.path),
        "data": str(settings.data),
        "representation": representation,
        "common_key": common_key,
        "held_out_pieces": len(held_out),
        "held_out_events": events,
        "held_out_notes": notes,
        "unknown_share": unknown["pitch"] / notes,
        "unknown_rhythm_share": unknown["rhythm"] / notes,
        "held_out": scores,
    }
    print(
        f"{loaded.path}: {len(held_out)} held-out pieces, {events} events ({representation} representation), "
        f"{notes} notes; outside its vocabularies: {result['unknown_share']:.2%} of the notes by pitch or chord "
        f"(unknown_share), {result['unknown_rhythm_share']:.2%} by offset or duration"
    )
    warning = unknown_warning(unknown, "held-out")
    if warning:
        print(warning)
    print(format_held_out(scores))
    generated, reference = [], []
    if settings.generate:
        result["music"], generated, reference = compare_music(settings, loaded, pieces, seen)
        print_music(settings, result["music"])
    examples = [(Path(p.path).stem, p.events[: settings.length]) for p in held_out[:2]]
    bpm = loaded.metadata.median_bpm or 120.0
    pages = {"generated": generated, "reference": reference, "examples": examples, "bpm": bpm}
    write_outputs(settings, result, pages, soundfont)
    return result


def parse_args(argv: list[str] | None = None) -> EvaluateSettings:
    """The settings the command line asks for; sampling flags mean what they mean in generate_music.py."""
    return parse(EvaluateSettings(), argv, __doc__.split("\n\n")[0], prog="python -m lstm_music.evaluate")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m lstm_music.evaluate`; exit status 2 on unusable input."""
    from .checkpoint import CheckpointError

    settings = parse_args(argv)

    def run() -> None:
        inputs = {"--checkpoint": EITHER} if settings.checkpoint else {"--weights-dir": FOLDER}
        styles = {} if settings.styles == "folders" else {"--styles": FILE}
        inputs |= styles | {"--data": FOLDER, "--soundfont": FILE}
        check_paths(settings, inputs, {"--json": FILE, "--html": FILE})
        set_verbose(settings.verbose)
        check_backend()
        evaluate(settings)

    return exit_status(run, (AudioError, CheckpointError, DataError, StyleError))


if __name__ == "__main__":
    sys.exit(main())
