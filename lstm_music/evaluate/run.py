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
from pathlib import Path

from ..backend import check_backend, set_verbose
from ..cli import (
    FILE,
    FOLDER,
    check_paths,
    exit_status,
)
from ..data.corpus import DataError
from ..data.preparation import prepare
from ..data.styles import StyleError
from ..data.vocab import unknown_notes, unknown_warning
from ..files import reason, write_atomically
from ..render.audio import AudioError, load_soundfont
from ..settings import EvaluateSettings, parse
from .held_out import (
    format_held_out,
    open_checkpoint,
    read_held_out,
    rebuild_split,
    score_held_out,
    without_training_copies,
)
from .music_report import compare_music, print_music


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
    representation, common_key = loaded.metadata.representation, loaded.metadata.common_key
    pieces, held_out = read_held_out(settings, loaded)
    if loaded.train_rows is None:
        rebuild_split(loaded, pieces, Path(settings.data))
    seen = prepare(held_out, representation, common_key, loaded.instruments, loaded.metadata.plays_as)
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
    from ..model.checkpoint import CheckpointError

    settings = parse_args(argv)

    def run() -> None:
        styles = {} if settings.styles == "folders" else {"--styles": FILE}
        inputs = settings.path_flags() | styles | {"--data": FOLDER, "--soundfont": FILE}
        check_paths(settings, inputs, {"--json": FILE, "--html": FILE})
        set_verbose(settings.verbose)
        check_backend()
        evaluate(settings)

    return exit_status(run, (AudioError, CheckpointError, DataError, StyleError))
