"""The evaluation report as one self-contained HTML page (`evaluate --html`).

Everything is inside the file: pictures as PNG and audio as WAV `data:` URIs, styles inline, no
script, so it can be mailed or opened offline. It holds the held-out table against the n-gram, the
music report with each generated value outside the real 10-90% range marked, a piano roll and an
audio player for every generated piece and two real held-out pieces, and the pitch-class and
rhythm histograms of generated against real pieces. The audio is the first `AUDIO_SECONDS` of
each piece, in mono at `AUDIO_RATE`, to keep the page small (about 1.8 MB per piece).
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from datetime import datetime
from pathlib import Path

from ..data.events import Event
from ..data.midi_io import write_midi
from ..files import write_atomically
from .metrics import PIECE_METRICS
from .realness import format_realness

AUDIO_SECONDS = 30
AUDIO_RATE = 22050
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.outside { background: #f8d0c8; font-weight: bold; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
audio { display: block; width: 100%; margin-top: 0.3em; }
.note { color: #666; font-size: 0.9em; }
"""


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(value: float, outside: bool = False) -> str:
    return f'<td class="outside">{value:.2f}</td>' if outside else f"<td>{value:.2f}</td>"


def held_out_table(scores: dict) -> str:
    """Per head: accuracy and nats per event of the network (with its repeat memory, if any) and the n-gram."""
    repeats = scores.get("model_with_repeats")
    head = "<tr><th>head</th><th>accuracy</th><th>n-gram</th><th>nats/event</th><th>n-gram</th>"
    rows = [head + ("<th>with repeats</th>" if repeats else "") + "</tr>"]
    for stream, model in scores["model"].items():
        ngram = scores["ngram"][stream]
        row = f"<tr><td>{stream}</td>{_cell(model['accuracy'])}{_cell(ngram['accuracy'])}"
        row += f"{_cell(model['cross_entropy'])}{_cell(ngram['cross_entropy'])}"
        rows.append(row + (_cell(repeats[stream]["cross_entropy"]) if repeats else "") + "</tr>")
    per_note = ", ".join(f"{html.escape(k.replace('_', ' '))} {v:.3f}" for k, v in scores["nats_per_note"].items())
    return f"<table>{''.join(rows)}</table><p>nats per note: {per_note}</p>"


def music_table(report: dict) -> str:
    """Each metric's real 10th percentile, median and 90th percentile, then every generated piece's
    value, marked where it falls outside that range, and the generated median."""
    per_piece = report["per_piece"]
    count = len(next(iter(per_piece.values()))["generated"])
    head = "<tr><th>metric</th><th>real p10</th><th>real median</th><th>real p90</th>"
    head += "".join(f"<th>piece {i + 1}</th>" for i in range(count)) + "<th>generated median</th></tr>"
    rows = [head]
    for name, row in per_piece.items():
        title = html.escape(PIECE_METRICS.get(name, name))
        if "real_median" not in row:
            cells = "<td>-</td>" * 3 + "".join(_cell(v) for v in row["generated"])
            rows.append(f'<tr><td title="{title}">{name}</td>{cells}{_cell(row["generated_median"])}</tr>')
            continue
        low, high = row["real_p10"], row["real_p90"]
        cells = _cell(low) + _cell(row["real_median"]) + _cell(high)
        cells += "".join(_cell(v, not low <= v <= high) for v in row["generated"])
        cells += _cell(row["generated_median"], not row["median_inside"])
        rows.append(f'<tr><td title="{title}">{name}</td>{cells}</tr>')
    summary = (
        f"values outside the real 10-90% range: generated {report['generated_outside_share']:.0%}, "
        f"real {report['real_outside_share']:.0%}; pieces stuck in loops: {len(report['loops'])}"
    )
    if "realness" in report:
        told = html.escape(format_realness(report["realness"])).replace("\n", "<br>")
        summary += f"</p><p>{told}"
    return f"<table>{''.join(rows)}</table><p>{summary}</p>"


def piece_figure(events: list[Event], title: str, bpm: float, soundfont: bytes, folder: Path) -> str:
    """A piece's piano roll and an audio player of its first `AUDIO_SECONDS`."""
    from ..render.audio import peak_normalised, render, wav_bytes
    from ..render.pictures import piano_roll

    stem = folder / title.replace(" ", "-")
    picture = piano_roll(events, stem.with_suffix(".png"), bpm, title).read_bytes()
    samples = render(write_midi(events, stem.with_suffix(".mid"), bpm=bpm), soundfont, AUDIO_RATE)
    mono = peak_normalised(samples[: AUDIO_SECONDS * AUDIO_RATE].mean(axis=1, keepdims=True))
    seconds = min(AUDIO_SECONDS, len(mono) / AUDIO_RATE)
    audio = _data_uri("audio/wav", wav_bytes(mono, AUDIO_RATE))
    return (
        f'<figure><img src="{_data_uri("image/png", picture)}" alt="piano roll of {html.escape(title)}">'
        f"<figcaption>{html.escape(title)}: the first {seconds:.0f} s</figcaption>"
        f'<audio controls preload="metadata" src="{audio}"></audio></figure>'
    )


def write_report_page(
    path: Path,
    result: dict,
    generated: list[list[Event]],
    reference: list[list[Event]],
    examples: list[tuple[str, list[Event]]],
    bpm: float,
    soundfont: bytes,
) -> Path:
    """Write the page for `result` (what `evaluate` returns): the `generated` pieces and the named
    real `examples` drawn and rendered at `bpm`, and histograms of `generated` against `reference`."""

    parts = [
        f"<h1>Evaluation of {html.escape(result['checkpoint'])}</h1>",
        f'<p class="note">data {html.escape(result["data"])}, {result["held_out_pieces"]} held-out pieces, '
        f"{result['held_out_notes']} notes; written {datetime.now():%Y-%m-%d %H:%M}</p>",
        "<h2>Held-out pieces against the n-gram baseline</h2>",
        held_out_table(result["held_out"]),
    ]
    music = result.get("music")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if music:
            drawn = histograms(generated, reference, folder / "histograms.png").read_bytes()
            parts += [
                f"<h2>Generated against real music</h2><p>{len(generated)} generated pieces against "
                f"{music['real_pieces']} real pieces, over their first {music['compared_length']} events; "
                "a marked cell lies outside the real pieces' 10-90% range.</p>",
                music_table(music),
                "<h2>Histograms</h2>",
                f'<img src="{_data_uri("image/png", drawn)}" alt="pitch-class and rhythm histograms">',
            ]
        if generated or examples:
            parts.append("<h2>Pieces</h2>")
        parts += [piece_figure(e, f"generated {i + 1}", bpm, soundfont, folder) for i, e in enumerate(generated)]
        parts += [piece_figure(e, f"real {name}", bpm, soundfont, folder) for name, e in examples]
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    return write_atomically(Path(path), lambda temporary: temporary.write_text(page, encoding="utf-8"))


def histograms(generated: list[list[Event]], real: list[list[Event]], path: Path) -> Path:
    """Draw the pitch-class, duration and offset histograms of the `generated` pieces beside the
    `real` ones, each as shares of its own events (durations and offsets: the 12 commonest)."""
    from matplotlib.figure import Figure

    from ..data.tokens import format_ql
    from ..render.pictures import save_figure
    from .metrics import HISTOGRAMS, histogram

    figure = Figure(figsize=(12.0, 3.6))
    for i, kind in enumerate(HISTOGRAMS):
        axes = figure.add_subplot(1, len(HISTOGRAMS), i + 1)
        made, heard = histogram(generated, kind), histogram(real, kind)
        if kind == "pitch_class":
            keys = list(range(12))
            labels = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        else:
            common = [key for key, _ in (heard + made).most_common(12)]
            keys = sorted(common, key=lambda key: math.inf if key is None else key)  # None: <unk>
            labels = ["<unk>" if key is None else format_ql(key) for key in keys]
        positions = range(len(keys))
        for shift, counts, label in ((-0.2, heard, "real"), (0.2, made, "generated")):
            total = sum(counts.values()) or 1
            axes.bar([x + shift for x in positions], [counts.get(k, 0) / total for k in keys], 0.4, label=label)
        axes.set_xticks(list(positions), labels, fontsize=8, rotation=0 if kind == "pitch_class" else 45)
        axes.set_title({"pitch_class": "pitch classes", "duration": "durations (quarters)",
                        "offset": "offsets from the previous event (quarters)"}[kind], fontsize=10)  # fmt: skip
        axes.set_ylabel("share of events" if i else "share of notes")
        axes.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)
