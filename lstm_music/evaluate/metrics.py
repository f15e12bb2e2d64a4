"""Listening-free numbers that say whether generated pieces look like the real music they learned from.

Per piece (a list of events, with chords as one event: `events.join_chords`): distinct pitches,
pitch range, longest run of one repeated note or chord, share of 8-event phrases that recur in the
piece (loops), notes per quarter note, share of chords, entropy of offsets and of durations, the
entropy of the pitch classes and how clearly they sit in one key (`keys.key_clarity`), and the
longest run of events copied verbatim from a training piece. Across pieces: Jensen-Shannon
distances between the pooled pitch-class, duration and offset histograms of two sets of pieces.
Everything works on the events' exact numbers, so it needs no MIDI rendering.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
from scipy.spatial.distance import jensenshannon

from ..data.events import Event, event_onsets, span, unknown
from ..data.instruments import instrument_token
from ..data.keys import key_clarity, pitch_class_counts
from ..data.meter import OFF_GRID, Meter, meter_at, positions
from ..data.notes import event_starts

PHRASE = 8  # events per phrase for the loop measure
RETURN_BARS = (4, 8)  # how many bars back `phrase_returns` looks for the same place

PIECE_METRICS: dict[str, str] = {
    "distinct_pitches": "distinct MIDI pitches",
    "pitch_range": "highest minus lowest pitch (semitones)",
    "longest_run": "longest run of one repeated note or chord (events)",
    "loop_share": f"share of {PHRASE}-event phrases that occur more than once",
    "note_density": "notes per quarter note",
    "chord_share": "share of events that are chords",
    "offset_entropy": "entropy of the offsets (bits)",
    "duration_entropy": "entropy of the durations (bits)",
    "pitch_class_entropy": "entropy of the pitch classes, every note counted (bits; 3.585 = all 12 equally)",
    "key_clarity": "best correlation of the pitch classes with the 24 Krumhansl-Kessler key profiles",
    "notes_per_onset": "notes per onset (a chord counts its notes)",
    "on_beat": "share of onsets on a beat of the time signature",
    "on_downbeat": "share of onsets on the first beat of a bar",
    "beat_entropy": "entropy of where in the beat onsets fall, on the grid of 16ths and triplets (bits)",
    "phrase_returns": "share of onsets followed by what followed the same place 4 or 8 bars before",
    "longest_copy": "longest run of events found verbatim in a training piece",
}
HISTOGRAMS = ("pitch_class", "duration", "offset")


def longest_run(items: list) -> int:
    """The length of the longest stretch of equal consecutive items (0 for an empty list)."""
    best = run = 0
    for i, item in enumerate(items):
        run = run + 1 if i and item == items[i - 1] else 1
        best = max(best, run)
    return best


def loop_share(items: list, phrase: int = PHRASE) -> float:
    """Share of the piece's `phrase`-long windows of `items` (events, intervals, gaps) whose exact items
    occur elsewhere in the piece too."""
    windows = [tuple(items[i : i + phrase]) for i in range(len(items) - phrase + 1)]
    if not windows:
        return 0.0
    counts = Counter(windows)
    return sum(counts[w] > 1 for w in windows) / len(windows)


def entropy_of_counts(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram of counts."""
    counts = counts[counts > 0]
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def entropy(values: Iterable) -> float:
    """Shannon entropy in bits of the values' frequency distribution."""
    return entropy_of_counts(np.array(list(Counter(values).values()), dtype=float))


def longest_copy(events: list[Event], training: list[list[Event]]) -> int:
    """The longest run of consecutive events of `events` that also occurs, in order, in one training piece."""
    if not events or not training:
        return 0
    ids: dict[Event, int] = {}
    # Events holding <unk> stand for different rare tokens: they never count as copied.
    query = np.array([-3 if unknown(e) else ids.setdefault(e, len(ids)) for e in events])
    # Training pieces are joined with -1 separators so that no match spans two pieces.
    reference = np.concatenate([np.append([ids.get(e, -2) for e in piece], -1) for piece in training])
    best = 0
    previous = np.zeros(len(reference), dtype=np.int64)
    for token in query:
        current = np.zeros_like(previous)
        hits = reference == token
        current[1:] = np.where(hits[1:], previous[:-1] + 1, 0)
        current[0] = int(hits[0])
        best = max(best, int(current.max()))
        previous = current
    return best


def onsets(events: list[Event]) -> list[tuple]:
    """(start, longest length, sorted pitches) of each distinct start of `events`: chords of every
    instrument at one time are one onset."""
    by_start: dict = {}
    for start, length, pitches, _ in event_onsets(events):
        held = by_start.setdefault(start, [length, set()])
        held[0] = max(held[0], length)
        held[1].update(pitches)
    return [(start, length, tuple(sorted(p))) for start, (length, p) in sorted(by_start.items())]


def beat_metrics(events: list[Event], meters: Iterable[Meter]) -> dict[str, float]:
    """Where the onsets of `events` (chords whole) fall in their bars under `meters`: the share on a
    beat, the share on a downbeat, and the entropy of their step in the beat (`meter.positions`)."""
    ticks, resolution = event_starts(events)
    places = positions(np.unique(ticks), resolution, meters)
    on_beat = places[:, 2] == 0
    return {
        "on_beat": float(on_beat.mean()) if len(places) else 0.0,
        "on_downbeat": float((on_beat & (places[:, 1] == 0)).mean()) if len(places) else 0.0,
        "beat_entropy": entropy_of_counts(np.bincount(places[:, 2], minlength=OFF_GRID + 1).astype(float)),
    }


def phrase_returns(events: list[Event], meters: Iterable[Meter], bars: tuple[int, ...] = RETURN_BARS) -> float:
    """The share of the onsets of `events` (chords of every instrument at one time are one) after
    which the next onset, its gap and pitches, is the one that followed the onset at the same place
    `bars` bars before (any of them; bars of the time signature in force among `meters`): phrases
    that come back, as songs, dances and folk tunes bring theirs back."""
    heard, meters = onsets(events), list(meters)
    index = {start: i for i, (start, _, _) in enumerate(heard)}
    follows = [(after[0] - start, after[2]) for (start, _, _), after in zip(heard, heard[1:], strict=False)]
    returned = 0
    for i, (start, _, _) in enumerate(heard[:-1]):
        bar = meter_at(meters, start).bar if meters else 4
        earlier = (index.get(start - n * bar) for n in bars)
        returned += any(j is not None and follows[j] == follows[i] for j in earlier)
    return returned / len(follows) if follows else 0.0


def piece_metrics(
    events: list[Event], training: list[list[Event]] | None = None, meters: Iterable[Meter] | None = None
) -> dict[str, float]:
    """Every per-piece metric of `events`; `longest_copy` only when `training` pieces are given, the
    beat metrics and `phrase_returns` only when the piece's time signatures `meters` are."""
    pitches = [p for e in events for p in e.pitches]
    quarters = span(events)
    values = {
        "distinct_pitches": float(len(set(pitches))),
        "pitch_range": float(max(pitches) - min(pitches)) if pitches else 0.0,
        "longest_run": float(longest_run([e.pitches for e in events])),
        "loop_share": loop_share(events),
        "note_density": float(len(pitches) / quarters) if quarters else 0.0,
        "chord_share": sum(len(e.pitches) > 1 for e in events) / len(events) if events else 0.0,
        "offset_entropy": entropy(e.offset for e in events),
        "duration_entropy": entropy(e.duration for e in events),
        "pitch_class_entropy": entropy_of_counts(pitch_class_counts(pitches)),
        "key_clarity": key_clarity(pitches),
        "notes_per_onset": len(pitches) / len(events) if events else 0.0,
    }
    if meters is not None:
        values |= beat_metrics(events, meters) | {"phrase_returns": phrase_returns(events, meters)}
    if training is not None:
        values["longest_copy"] = float(longest_copy(events, training))
    return values


def histogram(pieces: list[list[Event]], kind: str) -> Counter:
    """Pooled counts of pitch classes (each note of a chord counts), durations or offsets."""
    counts: Counter = Counter()
    for events in pieces:
        for e in events:
            if kind == "pitch_class":
                counts.update(p % 12 for p in e.pitches)
            else:
                counts[getattr(e, kind)] += 1
    return counts


def js_distance(a: Counter, b: Counter) -> float:
    """Jensen-Shannon distance (base 2, 0 = same distribution, 1 = disjoint) of two count histograms."""
    keys = sorted(set(a) | set(b), key=str)
    if not keys or not sum(a.values()) or not sum(b.values()):
        return float("nan")
    distance = jensenshannon([a.get(k, 0) for k in keys], [b.get(k, 0) for k in keys], base=2)
    return 0.0 if math.isnan(distance) else float(distance)


def percentile_range(values: list[float]) -> tuple[float, float, float]:
    """(10th percentile, median, 90th percentile) of `values`."""
    p10, median, p90 = np.percentile(np.asarray(values, dtype=float), [10, 50, 90])
    return float(p10), float(median), float(p90)


INSTRUMENT_METRICS: dict[str, str] = {
    "event_share": "share of the piece's events it plays (pieces where it plays)",
    "pitch_range": "its highest minus lowest pitch in the piece (semitones)",
}


def instrument_values(events: list[Event]) -> dict[str, dict[str, float]]:
    """Per instrument that plays in `events`: its share of the events and its pitch range there."""
    values: dict[str, dict[str, float]] = {}
    for instrument in {e.instrument for e in events}:
        pitches = [p for e in events if e.instrument == instrument for p in e.pitches]
        played = sum(e.instrument == instrument for e in events)
        values[instrument] = {"event_share": played / len(events), "pitch_range": float(max(pitches) - min(pitches))}
    return values


def instrument_report(generated: list[list[Event]], real: list[list[Event]]) -> dict[str, dict]:
    """Per instrument of the real pieces: the real 10-90% range and median of `INSTRUMENT_METRICS`
    over the pieces it plays in, the generated pieces' medians, and the share of its generated notes
    outside the pitches its real parts use (a generated cello part must not climb into the violin's
    top register). Instruments only the generated pieces use are listed with no real range."""
    real_values = [instrument_values(events) for events in real]
    gen_values = [instrument_values(events) for events in generated]
    report: dict[str, dict] = {}
    for instrument in sorted({i for v in real_values + gen_values for i in v}):
        row: dict = {"real_pieces": sum(instrument in v for v in real_values)}
        row["generated_pieces"] = sum(instrument in v for v in gen_values)
        for name in INSTRUMENT_METRICS:
            reference = [v[instrument][name] for v in real_values if instrument in v]
            values = [v[instrument][name] for v in gen_values if instrument in v]
            row[name] = {"generated_median": float(np.median(values)) if values else None}
            if reference:
                p10, median, p90 = percentile_range(reference)
                row[name] |= {"real_p10": p10, "real_median": median, "real_p90": p90}
                inside = values and p10 <= row[name]["generated_median"] <= p90
                row[name]["median_inside"] = bool(inside)
        real_pitches = [p for events in real for e in events if e.instrument == instrument for p in e.pitches]
        gen_pitches = [p for events in generated for e in events if e.instrument == instrument for p in e.pitches]
        if real_pitches:
            low, high = min(real_pitches), max(real_pitches)
            row["real_lowest"], row["real_highest"] = low, high
            outside = sum(not low <= p <= high for p in gen_pitches)
            row["notes_outside_range"] = outside / len(gen_pitches) if gen_pitches else 0.0
        row["generated_notes"] = len(gen_pitches)
        report[instrument_token(instrument)] = row
    return report


DURATION_BINS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # upper edges in quarters; longer ones share a last bin
OFFSET_BINS = (0.0, 0.25, 0.5, 1.0, 2.0)


def style_features(events: list[Event]) -> np.ndarray:
    """What tells one style from another, as one vector: the piece's pitch-class, melodic-interval
    (-12..12 semitones between consecutive notes), duration and offset histograms, each summing to
    1. Works on note-level events (chords taken apart)."""
    pitches = [e.pitches[0] for e in events]
    durations = [float(e.duration) for e in events]
    offsets = [float(e.offset) for e in events]
    parts = [
        np.bincount([p % 12 for p in pitches], minlength=12),
        np.bincount(np.clip(np.diff(pitches), -12, 12) + 12, minlength=25) if len(pitches) > 1 else np.zeros(25),
        np.bincount(np.searchsorted(DURATION_BINS, durations), minlength=len(DURATION_BINS) + 1),
        np.bincount(np.searchsorted(OFFSET_BINS, offsets), minlength=len(OFFSET_BINS) + 1),
    ]
    return np.concatenate([part / max(1, part.sum()) for part in parts]).astype(float)


def nearest_style(features: np.ndarray, centroids: dict[str, np.ndarray]) -> str | None:
    """The style whose centroid lies nearest `features` (Euclidean), None without centroids."""
    return min(centroids, key=lambda s: float(np.linalg.norm(features - centroids[s])), default=None)


def style_accuracy(
    real: dict[str, list[list[np.ndarray]]],
    generated: dict[str, list[np.ndarray]],
    training: dict[str, list[np.ndarray]] | None = None,
) -> dict:
    """How often a nearest-centroid classifier fitted on real pieces only recognises each style.

    `real` holds, per style, each real piece's segment features; `generated` the features of the
    pieces generated with each style; `training` those of the segments of the pieces the model was
    trained on, if known. A real piece is classified by the centroids of all the other real pieces
    (leave one piece out), a generated or training one by those of all real pieces. Per style: the
    accuracies, and the generated and training ones relative to the real one. The training pieces'
    relative accuracy is what a model that wrote its training pieces again would score: where the
    held-out pieces of a style differ from its training pieces, it lies below 1."""

    def centroids(leave_out: tuple[str, int] | None = None) -> dict[str, np.ndarray]:
        out = {}
        for style, pieces in real.items():
            kept = [f for i, piece in enumerate(pieces) if (style, i) != leave_out for f in piece]
            if kept:
                out[style] = np.mean(kept, axis=0)
        return out

    everything = centroids()
    report = {}
    for style, pieces in real.items():
        hits = [nearest_style(f, centroids((style, i))) == style for i, piece in enumerate(pieces) for f in piece]
        made = generated.get(style, [])
        real_accuracy = sum(hits) / len(hits) if hits else float("nan")
        generated_accuracy = sum(nearest_style(f, everything) == style for f in made) / len(made) if made else None
        shown = (training or {}).get(style, [])
        training_accuracy = sum(nearest_style(f, everything) == style for f in shown) / len(shown) if shown else None
        report[style] = {
            "real_accuracy": real_accuracy,
            "real_segments": len(hits),
            "generated_accuracy": generated_accuracy,
            "generated_pieces": len(made),
            "relative": generated_accuracy / real_accuracy if made and real_accuracy else None,
            "training_accuracy": training_accuracy,
            "training_segments": len(shown),
            "training_relative": training_accuracy / real_accuracy if shown and real_accuracy else None,
        }
    return report
