"""Held-out scoring: the checkpoint opened for evaluation, the pieces it did not train on, and
the network's, its repeat memory's and the n-gram's nats per event and per note on them."""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.corpus import DataError, load_corpus, parser_difference
from ..data.encoding import decode_events, encode_piece, encode_positions, split_encoded
from ..data.events import Event, Piece, event_onsets, join_chords, unknown
from ..data.meter import Meter
from ..data.preparation import prepare
from ..data.styles import label_pieces, read_style_table, style_index, unmatched_warning
from ..data.tokens import event_tokens
from ..data.vocab import Vocabulary, build_vocabularies, same_onset_index
from ..generate.conditions import Bars, make_bars
from ..model.repeats import mixed_cross_entropy
from ..model.scoring import score_model, target_probabilities
from ..streams import INSTRUMENT, STREAMS, streams_of
from .baseline import fit_baselines, score_baseline

if TYPE_CHECKING:
    from ..model.checkpoint import Metadata
    from ..settings import EvaluateSettings


def held_out_pieces(pieces: list[Piece], data: Path, metadata: Metadata) -> list[Piece]:
    """The pieces of `data` that are not in the checkpoint's training split."""
    trained = {(Path(metadata.training["data"]) / name).resolve() for name in metadata.train_pieces}
    return [p for p in pieces if (data / p.path).resolve() not in trained]


def without_training_copies(loaded: Loaded, held_out: list[Piece], seen: list[Piece], data: Path) -> tuple:
    """`held_out` and the same pieces `seen` (as prepared for the model) less those whose encoded
    events are a training piece's: a copy under another name or in another folder, which
    `held_out_pieces` cannot tell by its path, and which would flatter every score."""
    from ..model.checkpoint import fingerprint

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


def with_chords(events: list[Event]) -> list[Event]:
    """Decoded events with chords whole (`join_chords`); an event holding ``<unk>`` stays as it is,
    between the joined stretches, so it is never counted as copied."""
    out: list[Event] = []
    start = 0
    for i, event in enumerate(events):
        if unknown(event):
            out += [*join_chords(events[start:i]), event]
            start = i + 1
    return out + join_chords(events[start:])


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
            if all(token in known[s].index for token, s in zip(event_tokens(chord, 3), STREAMS, strict=True)):
                nats += cost_at[(start, length, instrument)]
                notes += len(pitches)
    return float(nats / notes) if notes else float("nan")


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
    def instruments(self) -> bool:
        return INSTRUMENT in self.vocabularies


def open_checkpoint(settings: EvaluateSettings) -> Loaded:
    """Load the checkpoint `settings` names with its training split (the n-gram needs it) where its
    run folder has it (`rebuild_split` makes it again otherwise)."""
    from ..model.checkpoint import load_checkpoint, read_train_rows, resolve_checkpoint

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
    from ..model.checkpoint import TRAIN_ROWS, CheckpointError, fingerprint

    names = loaded.metadata.train_pieces
    found = {p.path: p for p in pieces}
    missing = [name for name in names if name not in found]
    if missing:
        raise CheckpointError(
            f"{loaded.path}: no {TRAIN_ROWS} beside it, and {data} lacks {len(missing)} of its {len(names)} "
            f"training pieces (such as {missing[0]}) to rebuild it from: give the training folder as --data"
        )
    metadata = loaded.metadata
    seen = prepare([found[name] for name in names], metadata.representation, metadata.common_key, loaded.instruments,
                   metadata.plays_as)  # fmt: skip
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
    if loaded.metadata.styles:  # each piece's style, read as training read it (or from --styles)
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
    styles = [style_index(loaded.metadata.styles, p.style) for p in seen] if loaded.metadata.styles else None
    places = [encode_positions(p, Vocabulary(loaded.metadata.meters)) for p in seen] if loaded.metadata.meters else None
    probabilities, correct = target_probabilities(loaded.model, arrays, styles=styles, positions=places)
    ngram = score_ngram(loaded.train_rows, arrays, loaded.vocabularies)
    scores = {"model": score_model(probabilities, correct), "ngram": ngram}
    if loaded.metadata.repeat_weights:
        same_onset = same_onset_index(loaded.vocabularies, loaded.metadata.representation)
        order = loaded.model.music_layers.order
        mixed = mixed_cross_entropy(arrays, probabilities, loaded.metadata.repeat_weights, same_onset, order)
        scores["model_with_repeats"] = {s: {"cross_entropy": mixed[s]} for s in streams_of(loaded.vocabularies)}
    scores["nats_per_note"] = {name: nats_per_note(scores[name], events, notes) for name in list(scores)}
    minimum = loaded.metadata.min_count
    scores["nats_per_known_chord_note"] = known_chord_nats(seen, probabilities, loaded.training, minimum)
    if styles:  # the same pieces told another style: the label must carry information
        wrong = other_styles(styles, len(loaded.metadata.styles), seed)
        shuffled = score_model(*target_probabilities(loaded.model, arrays, styles=wrong, positions=places))
        scores["nats_per_note_styles"] = {
            "true": scores["nats_per_note"]["model"],
            "shuffled": nats_per_note(shuffled, events, notes),
            "labelled_pieces": sum(s > 0 for s in styles),
        }
    return scores


def drawn_bars(loaded: Loaded, meters: list[Meter]) -> Bars | None:
    """The `Bars` of pieces in `meters` (None without meter)."""
    return make_bars(loaded.metadata.meters, meters, loaded.vocabularies["offset"].tokens) if meters else None
