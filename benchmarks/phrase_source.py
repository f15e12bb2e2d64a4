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
so the saving is an upper estimate. One Markdown row per style, and one for all pieces.

`--generate N` then samples N pieces three times, with the numpy reference sampler of tests/ and
the source mixed in after the repeat memory (`PhraseSampler`, a prototype): without it, at the
weights fitted on all pieces, and at each style's own. Each piece takes its conditions and style
as the "segments" row of `realness_sweep.py` does. Per style, it prints the classifier against the
held-out pieces and the median `phrase_returns`.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the numpy sampler is the tests' oracle, extended here

from realness_sweep import drawn  # noqa: E402
from reference_sampler import ReferenceSampler, choose, copy_distribution, in_window  # noqa: E402

from lstm_music.data.encoding import (  # noqa: E402
    decode_events,  # noqa: E402
    encode_piece,
    encode_positions,
)
from lstm_music.data.events import join_chords  # noqa: E402
from lstm_music.data.meter import Meter, time_signature  # noqa: E402
from lstm_music.data.notes import event_starts  # noqa: E402
from lstm_music.data.preparation import prepare  # noqa: E402
from lstm_music.data.styles import NONE, style_index  # noqa: E402
from lstm_music.data.vocab import Vocabulary, same_onset_index  # noqa: E402
from lstm_music.evaluate.held_out import (  # noqa: E402
    drawn_bars,
    open_checkpoint,
    read_held_out,
    rebuild_split,
    without_training_copies,
)
from lstm_music.evaluate.metrics import phrase_returns  # noqa: E402
from lstm_music.evaluate.realness import segment_features, separability  # noqa: E402
from lstm_music.evaluate.run import parse_args  # noqa: E402
from lstm_music.model.repeats import BUCKETS, GRID, bucket, copy_probabilities  # noqa: E402
from lstm_music.model.scoring import target_probabilities  # noqa: E402
from lstm_music.streams import SPECIALS, streams_of  # noqa: E402

BARS_BACK = (4, 8)
ALL = "(all pieces)"


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


def fitted(mixed: np.ndarray, phrase: np.ndarray, buckets: np.ndarray) -> tuple[float, list[list[float]]]:
    """Nats per event (summed over heads) with the phrase source mixed into `mixed` at the weight per
    head and bucket that fits best, and those weights (per head: no match, then each of `BUCKETS`)."""
    total, weights = 0.0, []
    for i in range(mixed.shape[1]):
        weights.append([])
        for b in range(-1, len(BUCKETS)):
            rows = buckets == b
            has = rows & ~np.isnan(phrase[:, i])
            costs = [-np.log(np.maximum((1 - g) * mixed[has, i] + g * phrase[has, i], 1e-12)).sum() for g in GRID]
            total += min(costs) - np.log(np.maximum(mixed[rows & ~has, i], 1e-12)).sum()
            weights[-1].append(round(float(GRID[int(np.argmin(costs))]), 2))
    return total / len(mixed), weights


def score(loaded, seen: list) -> dict[str, tuple]:
    """Per style of the held-out pieces `seen`, and for all of them (`ALL`): events, nats per event
    with the repeat memory, with the phrase source too, and its weights (`fitted`)."""
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
    everything = [part for style_parts in pooled.values() for part in style_parts]
    for style, parts in [*pooled.items(), (ALL, everything)]:
        mixed, phrase, buckets = (np.concatenate([p[k] for p in parts]) for k in range(3))
        with_phrase, weights = fitted(mixed, phrase, buckets)
        out[style] = (len(mixed), float(-np.log(np.maximum(mixed, 1e-12)).sum(1).mean()), with_phrase, weights)
    return out


class PhraseSampler(ReferenceSampler):
    """The numpy reference sampler with the phrase source mixed into each head after the repeat
    memory, at the `weights` of each piece's style (style index -> `fitted` weights; -1: for any
    style without its own). Pieces start without a primer."""

    def __init__(self, model, same_onset: int | None, weights: dict[int, list[list[float]]]) -> None:
        super().__init__(model, same_onset)
        self.weights = weights
        self.heard: list[tuple[list, list, dict]] = []  # per piece: its rows, their ticks, each tick's first row

    def run(self, length, settings, rng, history, states, bar):
        self.heard = [([], [], {}) for _ in range(len(states[0]))]
        return super().run(length, settings, rng, history, states, bar)

    def proposals(self, previous: np.ndarray, times: np.ndarray) -> list[list[np.ndarray]]:
        """Record each piece's `previous` row at its start `times`; return per piece the rows that
        followed the same place in its onset 4 and 8 bars before."""
        found: list[list[np.ndarray]] = []
        for b, (rows, ticks, first) in enumerate(self.heard):
            if previous[b, 0] >= len(SPECIALS):
                first.setdefault(int(times[b]), len(rows))
                rows.append(previous[b].copy())
                ticks.append(int(times[b]))
            found.append([])
            if rows:
                start, last, bar = ticks[-1], len(rows) - 1, int(self.bars.pieces[b, 1])
                for back in BARS_BACK:
                    earlier = first.get(start - back * bar)
                    j = None if earlier is None else earlier + last - first[start]
                    if j is not None and j < last and ticks[j] == start - back * bar:
                        found[-1].append(rows[j + 1])
        return found

    def event(self, previous, states, matches, settings, rng, times=None):
        found = self.proposals(previous, times)
        probs, states, context = self.step(previous, states, times)
        chosen = np.zeros((len(previous), len(self.streams)), dtype=np.int32)
        for k, i in enumerate(self.order):
            s = self.streams[i]
            p = probs[s] if s in probs else self.head(s, context, chosen)
            earlier = chosen[:, list(self.order[:k])]
            p = np.array(self.with_repeats(p, matches, earlier, settings.repeat_weights[s], self.repeat_order))
            for b, rows in enumerate(found):
                copy = copy_distribution([tuple(r) for r in rows], tuple(earlier[b]), p.shape[1], self.repeat_order)
                if copy is not None:
                    weights = self.weights.get(int(self.styles[b, 0]), self.weights[-1])
                    w = weights[i][int(bucket(matches[b][0])) + 1 if matches[b][0] else 0]
                    p[b] = (1 - w) * p[b] + w * copy
            if settings.pitch_window and s == "note":
                p = in_window(p, self.registers, settings.pitch_window)
            chosen[:, i] = choose(p, settings.temperature[s], settings.top_k, settings.top_p, rng)
        return chosen, states


def generation(loaded, real: list, scored: dict, count: int, length: int) -> None:
    """Generate `count` pieces of `length` events without the phrase source, with its weights fitted
    on all held-out pieces, and with each style's own; print per style the classifier against the
    held-out pieces and the median `phrase_returns`, real and generated."""
    metadata, trained = loaded.metadata, set(loaded.metadata.train_pieces)
    held, returns = defaultdict(list), defaultdict(list)
    for piece in real:
        found = segment_features(list(piece.events), piece.meters) if piece.path not in trained else []
        if found:
            held[piece.style or NONE].append(found)
            returns[piece.style or NONE].append(phrase_returns(list(piece.events)[:length], piece.meters))
    names = [NONE, *metadata.styles]
    by_index = {names.index(style): row[3] for style, row in scored.items() if style in names}
    chosen = drawn(loaded, count, 0, "segments")
    meters = [Meter(Fraction(0), *time_signature(metadata.piece_meters[i])) for i in chosen]
    styles = np.asarray([metadata.register_styles[i] for i in chosen]) if metadata.styles else np.zeros(count, int)
    registers = np.asarray([metadata.registers[i] for i in chosen], dtype=np.float32)
    settings = parse_args(["--checkpoint", str(loaded.path)]).sampling_settings(metadata)
    same = same_onset_index(loaded.vocabularies, metadata.representation)
    pooled = scored[ALL][3]
    zero = [[0.0] * len(pooled[0]) for _ in pooled]
    ways = {"none": {-1: zero}, "all pieces' weights": {-1: pooled}, "each style's weights": by_index | {-1: pooled}}
    order = sorted(held, key=lambda s: -len(held[s]))
    print(f"\n{count} pieces of {length} events; per style: classifier, phrase returns (real: median of the held-out)")
    print(f"| phrase source | all | {' | '.join(f'{s} ({np.median(returns[s]):.2f})' for s in order)} |")
    print(f"|---|---|{'---|' * len(order)}")
    for name, weights in ways.items():
        sampler = PhraseSampler(loaded.model, same, weights)
        rows = sampler.generate(
            length, count, settings, 0, registers=registers, style=styles, bars=drawn_bars(loaded, meters)
        )
        made, back = defaultdict(list), defaultdict(list)
        for piece, index, meter in zip(rows, styles, meters, strict=True):
            events = join_chords(decode_events(piece, loaded.vocabularies))[:length]
            made[names[index]].append(segment_features(events, [meter]))
            back[names[index]].append(phrase_returns(events, [meter]))
        every = separability([p for ps in held.values() for p in ps], [p for ps in made.values() for p in ps])
        cells = [f"{separability(held[s], made[s])['balanced_accuracy']:.2f}, {np.median(back[s]):.2f}"
                 if len(made.get(s, [])) >= 2 else "-" for s in order]  # fmt: skip
        print(f"| {name} | {every['balanced_accuracy']:.2f} | {' | '.join(cells)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--data", default="corpus_midi/pretrain")
    parser.add_argument("--generate", type=int, default=0, help="also generate this many pieces with the source")
    parser.add_argument("--length", type=int, default=400, help="events per generated piece")
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
    scored = score(loaded, seen)
    print("| style | events | nats/event, repeat memory | with the phrase source | saving | note weights by bucket |")
    print("|---|---|---|---|---|---|")
    for style, (events, memory, phrase, weights) in sorted(scored.items(), key=lambda kv: -kv[1][0]):
        print(f"| {style} | {events} | {memory:.3f} | {phrase:.3f} | {(memory - phrase) / memory:.1%} | {weights[0]} |")
    if args.generate:
        real = prepare(pieces, "chord", metadata.common_key, loaded.instruments, metadata.plays_as)
        generation(loaded, real, scored, args.generate, args.length)


if __name__ == "__main__":
    main()
