"""Pictures: piano rolls and training curves, as PNG files.

Drawn with matplotlib's object API on the Agg canvas (no window, no global pyplot state), so it
works headless and from worker threads; files are written atomically (`files.write_atomically`).
"""

from __future__ import annotations

from pathlib import Path

from ..data.events import Event
from ..data.instruments import instrument_name
from ..data.midi_io import playable_notes
from ..files import write_atomically
from ..streams import ALL_STREAMS


def save_figure(figure, path: Path) -> Path:
    """Write `figure` to `path` as a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    return write_atomically(Path(path), lambda temporary: figure.savefig(temporary, format="png", dpi=100))


def piano_roll(events: list[Event], path: Path, bpm: float = 120.0, title: str = "") -> Path:
    """Draw `events` as a piano roll: time in beats across (seconds at `bpm` on the top axis), MIDI
    pitch up, each note a bar as long as it sounds, so chords show as stacked bars; each instrument
    its own colour, named in a legend when there are several."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    notes = playable_notes(events)
    end = float(max((start + length for start, length, _, _ in notes), default=1))
    figure = Figure(figsize=(min(40.0, max(8.0, end / 8)), 5.0))
    axes = figure.add_subplot()
    used = sorted({instrument for *_, instrument in notes})
    colours = {instrument: f"C{i % 10}" for i, instrument in enumerate(used)}
    for start, length, pitch, instrument in notes:
        shape = (float(start), pitch - 0.4), float(length), 0.8
        axes.add_patch(Rectangle(*shape, facecolor=colours[instrument], edgecolor="black", linewidth=0.3))
    if len(used) > 1:
        handles = [Patch(facecolor=colours[t], label=instrument_name(t)) for t in used]
        axes.legend(handles=handles, fontsize=8, loc="upper right")
    pitches = [pitch for _, _, pitch, _ in notes] or [60]
    axes.set_xlim(0, end)
    axes.set_ylim(min(pitches) - 2, max(pitches) + 2)
    axes.set_xlabel("beats (quarter notes)")
    axes.set_ylabel("MIDI pitch (60 = middle C)")
    axes.grid(axis="x", alpha=0.3)
    axes.secondary_xaxis("top", functions=(lambda b: b * 60 / bpm, lambda s: s * bpm / 60))
    axes.set_title(f"{title or Path(path).stem}: beats below, seconds at {bpm:g} bpm above", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def training_curves(history: list[dict], path: Path) -> Path:
    """Draw each head's training and validation loss per epoch from `history` (the rows of a run's
    `history.csv`), with the epoch of the lowest validation loss (the best checkpoint) marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [int(row["epoch"]) + 1 for row in history]
    figure = Figure(figsize=(8.0, 4.5))
    axes = figure.add_subplot()
    for i, stream in enumerate(s for s in ALL_STREAMS if f"{s}_loss" in history[0]):
        color = f"C{i}"
        axes.plot(epochs, [float(row[f"{stream}_loss"]) for row in history], color=color, label=f"{stream} (train)")
        if f"val_{stream}_loss" in history[0]:
            values = [float(row[f"val_{stream}_loss"]) for row in history]
            axes.plot(epochs, values, color=color, linestyle="--", label=f"{stream} (validation)")
    monitor = "val_loss" if "val_loss" in history[0] else "loss"
    best = min(range(len(history)), key=lambda i: float(history[i][monitor]))
    axes.axvline(epochs[best], color="grey", linestyle=":", label=f"best: epoch {epochs[best]}")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("cross-entropy (nats per event)")
    axes.legend(fontsize=8, ncol=2)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, path)
