"""What lets the evaluation's classifier tell a checkpoint's pieces from real ones: its balanced
accuracy over all held-out pieces and style by style, under ways of drawing and sampling them.

    python benchmarks/realness_sweep.py --checkpoint base --data corpus_midi/pretrain

Each generated piece takes its register, time signature and style from one training piece. The
evaluation draws that piece uniformly and samples the unlabelled style; `segments` draws it in
proportion to the segments it gives the classifier (`realness.PER_PIECE` at most), as the real
pieces compared count, and samples its style, so that each style's pieces can be compared with the
held-out pieces of that style. Each variant then changes one sampling setting. One Markdown row per
variant goes to stdout, then what tells the `segments` pieces from real ones most (over all, and
in each style with enough pieces), then style by style
how often the `segments` pieces and the real ones play again what followed the same place 1, 2, 4
and 8 bars before (`metrics.phrase_returns` at each distance): phrases that come back.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_music.data.encoding import decode_events  # noqa: E402
from lstm_music.data.events import join_chords  # noqa: E402
from lstm_music.data.meter import Meter, time_signature  # noqa: E402
from lstm_music.data.preparation import prepare  # noqa: E402
from lstm_music.data.styles import NONE  # noqa: E402
from lstm_music.data.vocab import same_onset_index  # noqa: E402
from lstm_music.evaluate.held_out import drawn_bars, open_checkpoint, read_held_out, rebuild_split  # noqa: E402
from lstm_music.evaluate.metrics import onsets, phrase_returns  # noqa: E402
from lstm_music.evaluate.realness import PER_PIECE, SEGMENT, segment_features, separability, telling  # noqa: E402
from lstm_music.evaluate.run import parse_args  # noqa: E402
from lstm_music.generate.sampling import Sampler, SamplingSettings  # noqa: E402
from lstm_music.streams import UNK  # noqa: E402


def stronger(settings: SamplingSettings, power: float) -> SamplingSettings:
    """`settings` with each repeat weight w made 1 - (1 - w) ** `power` (above 1: more copying)."""
    weights = {s: [1 - (1 - w) ** power for w in ws] for s, ws in (settings.repeat_weights or {}).items()}
    return dataclasses.replace(settings, repeat_weights=weights)


VARIANTS = {  # name: (draw, flags, change to the sampling settings)
    "evaluation's draw": ("uniform", [], None),
    "segments": ("segments", [], None),
    "temperature 0.8": ("segments", ["--temperature", "0.8"], None),
    "temperature 0.9": ("segments", ["--temperature", "0.9"], None),
    "temperature 1.1": ("segments", ["--temperature", "1.1"], None),
    "top-p 0.9": ("segments", ["--top-p", "0.9"], None),
    "repeat weights ^0.5": ("segments", [], lambda s: stronger(s, 0.5)),
    "repeat weights ^2": ("segments", [], lambda s: stronger(s, 2.0)),
    "no repeats": ("segments", ["--no-repeats"], None),
    "no pitch window": ("segments", ["--no-pitch-window"], None),
}


LOOKBACK = (1, 2, 4, 8)  # bars


def lookback_hits(events: list, meters: list[Meter]) -> list[float]:
    """`metrics.phrase_returns` of `events` (under the time signatures `meters`) at each of `LOOKBACK` bars."""
    return [phrase_returns(events, meters, (bars,)) for bars in LOOKBACK]


def drawn(loaded, count: int, seed: int, how: str) -> np.ndarray:
    """The training pieces that lend the `count` generated pieces their conditions."""
    rng = np.random.default_rng([seed, 1])
    if how == "uniform":
        return rng.integers(len(loaded.metadata.registers), size=count)
    counts = [min(PER_PIECE, len(onsets([e for e in events if UNK not in e])) // SEGMENT) for events in loaded.training]
    weights = np.asarray(counts, dtype=float)
    return rng.choice(len(weights), size=count, p=weights / weights.sum())


def compare(loaded, held: dict, argv: list[str], variant: tuple, count: int, length: int) -> tuple[list, dict, dict]:
    """One variant's classifier over all held-out pieces and per style (`held`: segments by style),
    with the segments of its pieces and their `lookback_hits`, by style."""
    how, flags, change = variant
    settings = parse_args([*argv, *flags])
    metadata = loaded.metadata
    chosen = drawn(loaded, count, settings.seed, how)
    registers = np.asarray([metadata.registers[i] for i in chosen], dtype=np.float32)
    meters = [Meter(Fraction(0), *time_signature(metadata.piece_meters[i])) for i in chosen]
    styles = np.asarray([metadata.register_styles[i] for i in chosen]) if how == "segments" else 0
    sampling = settings.sampling_settings(metadata)
    sampling = change(sampling) if change else sampling
    sampler = Sampler(loaded.model, same_onset_index(loaded.vocabularies, metadata.representation))
    bars = drawn_bars(loaded, meters)
    rows = sampler.generate(length, count, sampling, settings.seed, registers=registers, style=styles, bars=bars)
    names = [NONE, *metadata.styles]
    made: dict[str, list] = {}
    hits: dict[str, list] = {}
    for piece, index, meter in zip(rows, np.broadcast_to(styles, count), meters, strict=True):
        events = join_chords(decode_events(piece, loaded.vocabularies))[:length]
        made.setdefault(names[index], []).append(segment_features(events, [meter]))
        hits.setdefault(names[index], []).append(lookback_hits(events, [meter]))
    every = [p for pieces in made.values() for p in pieces]
    real = [p for pieces in held.values() for p in pieces]
    scores = {"all": separability(real, every, settings.seed)["balanced_accuracy"]}
    for style, pieces in held.items():
        if how == "segments" and len(made.get(style, [])) >= 2:
            scores[style] = separability(pieces, made[style], settings.seed)["balanced_accuracy"]
    return made, scores, hits


def print_telling(held: dict, made: dict, seed: int) -> None:
    """What tells the generated segments `made` from the real ones `held` most: over all styles,
    then in each style with at least 10 real and 4 generated pieces."""
    groups = {"all": ([p for ps in held.values() for p in ps], [p for ps in made.values() for p in ps])}
    groups |= {
        style: (held[style], made[style]) for style in held if len(held[style]) >= 10 and len(made.get(style, [])) >= 4
    }
    print("\nwhat tells the `segments` pieces from real ones most (segment medians, real and generated):")
    for group, (real, generated) in groups.items():
        cues = [f"{c['feature']} {c['medians'][0]:.2f}, {c['medians'][1]:.2f}" for c in telling(real, generated, seed)]
        print(f"- {group}: {'; '.join(cues)}")


def print_lookback(real: dict, generated: dict) -> None:
    """Per style, the median `lookback_hits` of its real and its generated pieces."""
    print("\nnext onset as it followed the same place N bars before (median share of onsets; real, generated):")
    distances = " | ".join(f"{bars} bar{'s' * (bars > 1)}" for bars in LOOKBACK)
    print(f"| style | pieces, real and generated | {distances} |")
    print(f"|---|---|{'---|' * len(LOOKBACK)}")
    for style in sorted(generated, key=lambda s: -len(real.get(s, []))):
        theirs = np.median(generated[style], axis=0)
        ours = np.median(real[style], axis=0) if style in real else np.full(len(LOOKBACK), np.nan)
        cells = " | ".join(f"{a:.2f}, {b:.2f}" for a, b in zip(ours, theirs, strict=True))
        print(f"| {style} | {len(real.get(style, []))}, {len(generated[style])} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--data", default="corpus_midi/pretrain")
    parser.add_argument("--count", type=int, default=60, help="pieces generated per variant")
    parser.add_argument("--length", type=int, default=400, help="events per piece")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    argv = ["--checkpoint", args.checkpoint, "--data", args.data, "--seed", str(args.seed)]
    loaded = open_checkpoint(parse_args(argv))
    pieces, _ = read_held_out(parse_args(argv), loaded)
    if loaded.train_rows is None:
        rebuild_split(loaded, pieces, Path(args.data))
    metadata, trained = loaded.metadata, set(loaded.metadata.train_pieces)
    real = prepare(pieces, "chord", metadata.common_key, loaded.instruments, metadata.plays_as)
    held: dict[str, list] = {}
    real_hits: dict[str, list] = {}
    for piece in real:
        found = segment_features(list(piece.events), piece.meters) if piece.path not in trained else []
        if found:
            held.setdefault(piece.style or NONE, []).append(found)
            real_hits.setdefault(piece.style or NONE, []).append(
                lookback_hits(list(piece.events)[: args.length], list(piece.meters))
            )
    styles = sorted(held, key=lambda s: -len(held[s]))
    print(f"| variant | all | {' | '.join(f'{s} ({len(held[s])})' for s in styles)} |")
    print(f"|---|---|{'---|' * len(styles)}")
    for name, variant in VARIANTS.items():
        made, scores, hits = compare(loaded, held, argv, variant, args.count, args.length)
        cells = " | ".join(f"{scores[s]:.2f}" if scores.get(s) is not None else "-" for s in ["all", *styles])
        print(f"| {name} | {cells} |", flush=True)
        if name == "segments":
            kept, generated_hits = made, hits
    print_telling(held, kept, args.seed)
    print_lookback(real_hits, generated_hits)


if __name__ == "__main__":
    main()
