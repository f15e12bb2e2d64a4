"""What a phrase copy source would save: held-out nats per event of a checkpoint's network with its
repeat memory, and with what followed the same place 4 and 8 bars before mixed in as well.

    python benchmarks/phrase_source.py --checkpoint base --data corpus_midi/pretrain

The repeat memory copies a stretch only once the events before it match an earlier one, so it
cannot start a phrase again; `metrics.phrase_returns` finds real songs and tunes doing so far more
often than generated ones. This measures how much likelihood such a source holds before anyone
builds it. For each event after the first, the proposal is the event that followed the one at the
same place in its onset 4 and 8 bars before its predecessor (bars of the time signature in force;
pieces off their beat grid propose nothing), counted like the memory's followers: a head copies
only from proposals that agree with the true tokens before it in the chain. Its weight is fitted
per head and per memory match-length bucket (none, then `repeats.BUCKETS`) on the pieces scored,
so the saving is an upper estimate. One Markdown row per style (all pieces without styles).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_music.data.encoding import encode_piece, encode_positions  # noqa: E402
from lstm_music.data.meter import Meter, time_signature  # noqa: E402
from lstm_music.data.notes import event_starts  # noqa: E402
from lstm_music.data.preparation import prepare  # noqa: E402
from lstm_music.data.styles import NONE, style_index  # noqa: E402
from lstm_music.data.vocab import Vocabulary, same_onset_index  # noqa: E402
from lstm_music.evaluate.held_out import (  # noqa: E402
    open_checkpoint,
    read_held_out,
    rebuild_split,
    without_training_copies,
)
from lstm_music.evaluate.run import parse_args  # noqa: E402
from lstm_music.model.repeats import BUCKETS, GRID, bucket, copy_probabilities  # noqa: E402
from lstm_music.model.scoring import target_probabilities  # noqa: E402
from lstm_music.streams import SPECIALS, streams_of  # noqa: E402

BARS_BACK = (4, 8)


def phrase_probabilities(rows: np.ndarray, ticks: np.ndarray, bars: list[int | None], chain: tuple) -> np.ndarray:
    """For each event of an encoded piece (`rows`, from ``<start>``; `ticks`: each event's start;
    `bars`: the ticks of a bar at each event, None off the grid), the phrase source's probability of
    its true token per stream (NaN where it proposes nothing)."""
    first: dict[int, int] = {}
    for e, t in enumerate(ticks.tolist()):
        first.setdefault(t, e)
    out = np.full((len(rows) - 1, rows.shape[1]), np.nan)
    for e in range(1, len(rows) - 1):  # event e is predicted after event e - 1
        start, bar = int(ticks[e - 1]), bars[e - 1]
        if bar is None:
            continue
        within = e - 1 - first[start]  # its place among the events of its onset
        found = []
        for back in BARS_BACK:
            earlier = first.get(start - back * bar)
            j = None if earlier is None else earlier + within
            if j is not None and j < e - 1 and ticks[j] == start - back * bar:
                found.append(rows[j + 2])  # the row of the event after event j
        target = rows[e + 1]
        for k, i in enumerate(chain):
            agreeing = [f for f in found if all(f[c] == target[c] for c in chain[:k])]
            if agreeing:
                out[e, i] = sum(f[i] == target[i] for f in agreeing) / len(agreeing)
    return out


def fitted_saving(mixed: np.ndarray, phrase: np.ndarray, buckets: np.ndarray) -> tuple[float, list]:
    """Nats per event (summed over heads) with the phrase source mixed into `mixed` at the weight
    per head and bucket that fits best, and the note head's weights."""
    total, note = 0.0, []
    for i in range(mixed.shape[1]):
        for b in range(-1, len(BUCKETS)):
            rows = buckets == b
            has = rows & ~np.isnan(phrase[:, i])
            costs = [-np.log(np.maximum((1 - g) * mixed[has, i] + g * phrase[has, i], 1e-12)).sum() for g in GRID]
            total += min(costs) - np.log(np.maximum(mixed[rows & ~has, i], 1e-12)).sum()
            if i == 0:
                note.append(round(float(GRID[int(np.argmin(costs))]), 2))
    return total / len(mixed), note


def score(loaded, seen: list) -> dict[str, tuple]:
    """Per style of the held-out pieces `seen`: events, nats per event with the repeat memory, with
    the phrase source too, and the note head's phrase weights by bucket."""
    metadata = loaded.metadata
    meters = Vocabulary(metadata.meters)
    order = tuple(loaded.model.music_layers.order)
    same = same_onset_index(loaded.vocabularies, metadata.representation)
    weights = metadata.repeat_weights
    streams = streams_of(loaded.vocabularies)
    arrays = [encode_piece(p, loaded.vocabularies) for p in seen]
    places = [encode_positions(p, meters) for p in seen]
    styles = [style_index(metadata.styles, p.style) for p in seen] if metadata.styles else None
    network, _ = target_probabilities(loaded.model, arrays, styles=styles, positions=places)
    pooled: dict[str, list] = defaultdict(list)
    for piece, rows, place, net in zip(seen, arrays, places, network, strict=True):
        ticks, resolution = event_starts(piece.events)
        signatures = [meters.tokens[m] for m in place[1:, 0]]
        bars = [
            None if t in SPECIALS else int(Meter(Fraction(0), *time_signature(t)).bar * resolution) for t in signatures
        ]
        pairs = copy_probabilities(rows, same, order)
        lengths = np.array([length for length, _ in pairs])
        copies = np.array([probs for _, probs in pairs])
        memory = np.array([[weights[s][b] if b >= 0 else 0.0 for s in streams] for b in bucket(lengths)])
        memory = np.where(np.isnan(copies), 0.0, memory)
        mixed = (1 - memory) * net + memory * np.nan_to_num(copies)
        pooled[piece.style or NONE].append((mixed, phrase_probabilities(rows, ticks, bars, order), bucket(lengths)))
    out = {}
    for style, parts in pooled.items():
        mixed, phrase, buckets = (np.concatenate([p[k] for p in parts]) for k in range(3))
        with_phrase, note = fitted_saving(mixed, phrase, buckets)
        out[style] = (len(mixed), float(-np.log(np.maximum(mixed, 1e-12)).sum(1).mean()), with_phrase, note)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--data", default="corpus_midi/pretrain")
    args = parser.parse_args()
    settings = parse_args(["--checkpoint", args.checkpoint, "--data", args.data])
    loaded = open_checkpoint(settings)
    metadata = loaded.metadata
    if not metadata.repeat_weights or not metadata.meters:
        sys.exit(f"{loaded.path}: needs a checkpoint with a repeat memory and meter")
    pieces, held = read_held_out(settings, loaded)
    if loaded.train_rows is None:
        rebuild_split(loaded, pieces, Path(args.data))
    seen = prepare(held, metadata.representation, metadata.common_key, loaded.instruments, metadata.plays_as)
    held, seen = without_training_copies(loaded, held, seen, Path(args.data))
    print("| style | events | nats/event, repeat memory | with the phrase source | saving | note weights by bucket |")
    print("|---|---|---|---|---|---|")
    for style, (events, memory, phrase, note) in sorted(score(loaded, seen).items(), key=lambda kv: -kv[1][0]):
        print(f"| {style} | {events} | {memory:.3f} | {phrase:.3f} | {(memory - phrase) / memory:.1%} | {note} |")


if __name__ == "__main__":
    main()
