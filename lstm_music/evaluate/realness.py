"""Can a classifier tell generated music from real music? Segments of pieces, their features, and a
cross-validated random forest.

A piece (its events, chords whole, and its time signatures) is cut into segments of `SEGMENT`
onsets (at most `PER_PIECE` of them, so that every piece counts alike); each segment becomes a
vector of features that see neither the key nor the tempo (generated pieces are in C major or A
minor, and every time is in quarter notes): melodic intervals, pitch spread, key clarity, chord
sizes, inter-onset intervals and durations, where onsets fall in the beat and the bar, and how much
of the segment repeats itself. A random forest (scikit-learn) is fitted to tell two sets of pieces
apart, cross-validated with every piece's segments kept in one fold, and scored by balanced
accuracy: 0.5 is chance, 1.0 tells every segment apart. The evaluation reports it for held-out real
against generated pieces beside held-out against training real pieces: the floor, what real music
scores against itself; and what tells generated from real most (`telling`): the features the
forest leans on, each with its median in both sets, so that a score says what to mend.

scikit-learn is imported when a classifier is fitted: only the evaluation needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import numpy as np

from ..data.events import Event
from ..data.keys import key_clarity, pitch_class_counts
from ..data.meter import GRID, OFF_GRID, Meter, positions
from .metrics import entropy_of_counts, loop_share, onsets

SEGMENT = 64  # onsets per segment
PER_PIECE = 8  # segments per piece at most: about a 500-event generated piece's
IOI_BINS = (0.0, 1 / 6, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # quarter notes, upper edges
STEP_BINS = (0, 3, 4, 6, 8, 9)  # steps in the beat kept apart: on it, 16ths, triplets, 8ths; others pooled
FOLDS = 5
REPEATS = 5  # cross-validations with other folds, averaged
TELLING = 3  # features `telling` names


def _bins(edges: tuple, unit: str) -> list[str]:
    """Names of the histogram bins `np.searchsorted(edges, x - 1e-9)` counts, in quarter notes: 0,
    above one edge up to the next (``"gap 3/4-1"``), beyond the last."""
    named = [Fraction(edge).limit_denominator(12) for edge in edges]
    within = [f"{unit} {low}-{high}" for low, high in zip(named, named[1:], strict=False)]
    return [f"{unit} 0", *within, f"{unit} > {named[-1]}"]


FEATURES = (  # the name of each value of a segment's features (`_features`), in its order
    *(f"melodic interval {i:+d}" for i in range(-12, 13)),
    *("distinct pitches per onset", "pitch range", "key clarity", "pitch-class entropy"),
    *("notes per onset", "notes per onset, spread", "onsets of 2+ notes", "onsets of 3+ notes", "onsets of 4+ notes"),
    *_bins(IOI_BINS, "gap"),
    *_bins(IOI_BINS, "length"),
    "gap changes",
    *(f"at {Fraction(s, GRID)} of a beat" for s in STEP_BINS),
    "elsewhere in a beat",
    *("on a beat", "on a downbeat", "off the grid", "place-in-beat entropy"),
    *("repeated 7-interval figures", "repeated 4-gap rhythms", "repeated 8-gap rhythms"),
)


def _share(histogram: np.ndarray) -> np.ndarray:
    return histogram / max(1, histogram.sum())


def segment_features(
    events: list[Event], meters: Iterable[Meter], size: int = SEGMENT, limit: int = PER_PIECE
) -> list[np.ndarray]:
    """The feature vector of each whole segment of `size` onsets of a piece (`events`, under the
    time signatures `meters`), at most `limit` of them, evenly spread over the piece, so that one
    long piece does not outweigh the others; a piece shorter than one segment gives none."""
    heard = onsets(events)
    if len(heard) < size:
        return []
    starts = range(0, len(heard) - size + 1, size)
    chosen = [starts[i] for i in np.linspace(0, len(starts) - 1, min(limit, len(starts))).round().astype(int)]
    starts = [start for start, _, _ in heard]
    resolution = int(np.lcm.reduce([GRID, *(s.denominator for s in starts)]))
    places = positions(np.array([int(s * resolution) for s in starts]), resolution, meters)
    return [_features(heard[i : i + size], places[i : i + size]) for i in chosen]


def _features(heard: list[tuple], places: np.ndarray) -> np.ndarray:
    """The features of one segment: its onsets (start, length, pitches) and their places in the bar."""
    tops = [pitches[-1] for _, _, pitches in heard]
    everything = [p for _, _, pitches in heard for p in pitches]
    sizes = np.array([len(pitches) for _, _, pitches in heard], dtype=float)
    starts = np.array([float(start) for start, _, _ in heard])
    gaps = np.diff(starts)
    lengths = np.array([float(length) for _, length, _ in heard])
    steps = places[:, 2]
    step_bins = np.array([STEP_BINS.index(s) if s in STEP_BINS else len(STEP_BINS) for s in steps])
    intervals = np.clip(np.diff(tops), -12, 12) + 12
    rhythm = [round(float(g), 3) for g in gaps]
    parts = [
        _share(np.bincount(intervals, minlength=25)),
        [len(set(everything)) / len(heard), (max(everything) - min(everything)) / 48, key_clarity(everything)],
        [entropy_of_counts(pitch_class_counts(everything)) / np.log2(12)],
        [sizes.mean(), sizes.std(), (sizes >= 2).mean(), (sizes >= 3).mean(), (sizes >= 4).mean()],
        _share(np.bincount(np.searchsorted(IOI_BINS, gaps - 1e-9), minlength=len(IOI_BINS) + 1)),
        _share(np.bincount(np.searchsorted(IOI_BINS, lengths - 1e-9), minlength=len(IOI_BINS) + 1)),
        [np.mean(np.abs(np.diff(np.log2(np.maximum(gaps, 1e-3))))) if len(gaps) > 1 else 0.0],
        _share(np.bincount(step_bins, minlength=len(STEP_BINS) + 1)),
        [(steps == 0).mean(), ((steps == 0) & (places[:, 1] == 0)).mean(), (steps == OFF_GRID).mean()],
        [entropy_of_counts(np.bincount(steps, minlength=OFF_GRID + 1).astype(float)) / np.log2(OFF_GRID + 1)],
        [loop_share([b for b in np.diff(tops)], 7), loop_share(rhythm, 4), loop_share(rhythm, 8)],
    ]
    return np.concatenate([np.asarray(part, dtype=float) for part in parts])


def separability(first: list[list[np.ndarray]], second: list[list[np.ndarray]], seed: int = 0) -> dict:
    """How well a random forest tells the segments of the pieces `first` from those of `second`
    (each a list of pieces, each a list of segment features): balanced accuracy over folds that keep
    every piece's segments together (at most `FOLDS`, at least 2 pieces of each set needed; None
    where there are too few), averaged over `REPEATS` ways of folding them (and their spread), with
    the segment and piece counts."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold

    pieces = [p for p in first if p] + [p for p in second if p]
    labels = np.array([0] * sum(1 for p in first if p) + [1] * sum(1 for p in second if p), dtype=int)
    counts = {"segments": [sum(map(len, first)), sum(map(len, second))]}
    counts["pieces"] = np.bincount(labels, minlength=2).tolist()
    folds = min(FOLDS, *counts["pieces"])
    if folds < 2:
        return counts | {"balanced_accuracy": None}
    features = np.array([f for piece in pieces for f in piece])
    targets = np.repeat(labels, [len(p) for p in pieces])
    groups = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
    scores = []
    for repeat in range(REPEATS):  # which pieces share a fold moves the score: the mean of several splits
        predicted = np.empty_like(targets)
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed + repeat)
        for train, test in splitter.split(features, targets, groups):
            forest = RandomForestClassifier(
                100, min_samples_leaf=2, class_weight="balanced", random_state=seed + repeat, n_jobs=1
            )
            forest.fit(features[train], targets[train])
            predicted[test] = forest.predict(features[test])
        scores.append(balanced_accuracy_score(targets, predicted))
    return counts | {"balanced_accuracy": float(np.mean(scores)), "spread": float(np.std(scores))}


def telling(first: list[list[np.ndarray]], second: list[list[np.ndarray]], seed: int = 0) -> list[dict]:
    """The `TELLING` features that a random forest fitted on every segment of `first` and `second`
    (as `separability` takes them) leans on most, by impurity importance, each with its median in
    both sets: what tells them apart (a feature equal to one already named is skipped). Empty where
    either set has no segment."""
    from sklearn.ensemble import RandomForestClassifier

    a, b = (np.array([f for piece in pieces for f in piece]) for pieces in (first, second))
    if not len(a) or not len(b):
        return []
    forest = RandomForestClassifier(300, min_samples_leaf=2, class_weight="balanced", random_state=seed, n_jobs=1)
    both = np.concatenate([a, b])
    forest.fit(both, np.repeat([0, 1], [len(a), len(b)]))
    chosen: list[int] = []
    for i in np.argsort(-forest.feature_importances_):  # a feature that equals one named (on a beat, at 0 of it): once
        if len(chosen) < TELLING and not any(np.array_equal(both[:, i], both[:, j]) for j in chosen):
            chosen.append(int(i))
    return [
        {
            "feature": FEATURES[i],
            "importance": float(forest.feature_importances_[i]),
            "medians": [float(np.median(a[:, i])), float(np.median(b[:, i]))],
        }
        for i in chosen
    ]


def format_realness(report: dict) -> str:
    """How well a classifier tells generated from held-out real segments, beside the floor; and on
    a second line, what tells them apart most."""

    def told(row: dict) -> str:
        accuracy = row["balanced_accuracy"]
        shown = "too few pieces" if accuracy is None else f"{accuracy:.2f}"
        return f"{shown} ({row['segments'][1]} segments of {row['pieces'][1]} pieces)"

    line = (
        f"classifier, balanced accuracy (0.5: cannot tell): held-out real vs generated {told(report['generated'])}; "
        f"held-out vs training real (the floor) {told(report['floor'])}; held-out: "
        f"{report['generated']['segments'][0]} segments of {report['generated']['pieces'][0]} pieces"
    )
    cues = [f"{row['feature']} ({row['medians'][0]:.2f} real, {row['medians'][1]:.2f} generated)"
            for row in report.get("telling", [])]  # fmt: skip
    return line + (f"\nwhat tells generated from real most (segment medians): {'; '.join(cues)}" if cues else "")
