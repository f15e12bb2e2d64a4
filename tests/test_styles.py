"""Styles: labels from folders or a table, stored in the checkpoint, and generated on request."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, train_args, write_tracks

from lstm_music.data.events import Piece
from lstm_music.data.midi_io import read_piece
from lstm_music.data.styles import (
    StyleError,
    balance_weights,
    keep_styles,
    label_pieces,
    read_style_table,
    style_counts,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
F_SHARP = [54, 58, 61]  # F#3 A#3 C#4


def scales(path: Path, shift: int) -> Path:
    """Quarter notes up and down the C major scale, from its `shift`-th degree."""
    tune = (C_MAJOR[shift:] + C_MAJOR[::-1] + C_MAJOR[:shift]) * 4
    return write_tracks(path, [[(i, 1, pitch, 0) for i, pitch in enumerate(tune)]])


def chords(path: Path, octave: int) -> Path:
    """Half-note F# major triads, in root position and an octave higher; `24 + octave` of them, so that
    no two pieces are the same (evaluation would take one for a copy of the other)."""
    notes = [(2 * i, 2, pitch + 12 * ((i + octave) % 2), 0) for i in range(24 + octave) for pitch in F_SHARP]
    return write_tracks(path, [notes])


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory) -> Path:
    """A folder with two very different styles in sub-folders and one unlabelled piece at the top."""
    data = tmp_path_factory.mktemp("styles")
    for name in ("scales", "fsharp"):
        (data / name).mkdir()
    for k in range(3):
        scales(data / "scales" / f"s{k}.mid", k)
        chords(data / "fsharp" / f"c{k}.mid", k)
    scales(data / "loose.mid", 4)
    return data


def test_styles_come_from_folders_or_a_table(two_styles: Path, tmp_path: Path) -> None:
    pieces = [Piece(str(p.relative_to(two_styles))) for p in sorted(two_styles.rglob("*.mid"))]
    labelled = label_pieces(pieces, two_styles)
    assert {p.path: p.style for p in labelled}["loose.mid"] is None
    assert style_counts([Piece(p.path, [], style=p.style) for p in labelled]) == {"fsharp": (3, 0), "scales": (3, 0)}
    table = tmp_path / "styles.csv"
    table.write_text(f"path,style\nscales/s0.mid,ragtime\n{two_styles / 'loose.mid'},ragtime\n")
    by_table = {p.path: p.style for p in label_pieces(pieces, two_styles, read_style_table(table))}
    assert by_table["scales/s0.mid"] == by_table["loose.mid"] == "ragtime" and by_table["fsharp/c0.mid"] is None
    kept, dropped = keep_styles(label_pieces(pieces, two_styles, read_style_table(table)), 3)
    assert dropped == {"ragtime": 2} and all(p.style is None for p in kept)
    table.write_text("scales/s0.mid;ragtime\n")
    with pytest.raises(StyleError, match=r"styles.csv: row 1 is not 'path,style'"):
        read_style_table(table)


def test_small_styles_weigh_more() -> None:
    weights = balance_weights(["big"] * 3 + ["small", None], [4, 4, 4, 2, 1], 0.5)  # 12 events against 2: mean 7
    assert weights[0] == pytest.approx((7 / 12) ** 0.5) and weights[3] == pytest.approx(3.5**0.5) and weights[4] == 1


@pytest.fixture(scope="module")
def style_run(two_styles: Path, tmp_path_factory) -> Path:
    """A tiny model trained on the two styles."""
    from train import main

    weights = tmp_path_factory.mktemp("weights")
    flags = train_args(two_styles, weights, tmp_path_factory.mktemp("cache"), "styles", "--epochs", "12")
    extra = ["--val-fraction", "0.15", "--learning-rate", "0.01", "--key", "keep"]  # F# stays F#
    assert main([*flags, *extra]) == 0
    return weights / "styles"


def generate(run: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "generate_music.py", "--checkpoint", str(run), *flags]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_the_styles_are_stored_and_listed(style_run: Path) -> None:
    from lstm_music.model.checkpoint import read_metadata

    metadata = read_metadata(style_run / "best.weights.h5")
    assert sorted(metadata.styles) == ["fsharp", "scales"]
    assert sum(metadata.style_pieces.values()) == 6  # 7 pieces, 1 held out
    # each training piece's style index, in the order of its path (0: none, else names' index + 1)
    training = metadata.training
    folders = [Path(path).parts[0] if "/" in path else None for path in training["train_pieces"]]
    assert training["train_styles"] == [metadata.styles.index(f) + 1 if f else 0 for f in folders]
    listed = generate(style_run, "--list-styles")
    assert listed.returncode == 0 and "fsharp\t" in listed.stdout and "scales\t" in listed.stdout


def test_an_unknown_style_stops_with_the_list(style_run: Path, tmp_path: Path) -> None:
    result = generate(style_run, "--style", "jazz", "--out", str(tmp_path / "x.mid"))
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --style jazz: not a style of this checkpoint; it knows ")
    assert "fsharp (" in line and "scales (" in line
    assert not (tmp_path / "x.mid").exists()


def test_each_style_is_generated_on_request(style_run: Path, tmp_path: Path) -> None:
    def shares(style: str) -> tuple[float, float]:
        """Over 6 pieces, the median share of the notes on F#, A# or C# and of the onsets that are chords
        (one piece alone goes by the luck of its first draws). The seed is fixed: this tiny model
        makes some pieces of one style in the other's manner, and a random draw of 6 sometimes had
        3 of them."""
        out = tmp_path / style
        flags = ["--output-dir", str(out), "--count", "6", "--length", "120", "--seed", "0"]
        result = generate(style_run, "--style", style, *flags)
        assert result.returncode == 0, result.stderr
        keys, chords = [], []
        for path in sorted(out.glob("*.mid")):
            events = read_piece(path).events
            pitches = [p for e in events for p in e.pitches]
            keys.append(sum(p % 12 in (1, 6, 10) for p in pitches) / len(pitches))
            chords.append(sum(len(e.pitches) > 1 for e in events) / len(events))
        assert len(keys) == 6
        return float(np.median(keys)), float(np.median(chords))

    # F#, A# and C# are in every F# chord and never in the C major scales
    (fsharp_keys, fsharp_chords), (scale_keys, scale_chords) = shares("fsharp"), shares("scales")
    assert fsharp_keys > 0.6 > 0.2 > scale_keys
    assert fsharp_chords > scale_chords + 0.2


def test_one_batch_samples_each_piece_in_its_own_style(style_run: Path) -> None:
    from lstm_music.data.vocab import same_onset_index
    from lstm_music.generate.sampling import Sampler
    from lstm_music.model.checkpoint import load_checkpoint

    model, metadata, vocabularies = load_checkpoint(style_run / "best.weights.h5")
    sampler = Sampler(model, same_onset_index(vocabularies, metadata.representation))
    first, second = (sampler.generate(40, 2, seed=3, style=style) for style in (1, 2))
    mixed = sampler.generate(40, 2, seed=3, style=np.array([1, 2]))
    assert np.array_equal(mixed[0], first[0]) and np.array_equal(mixed[1], second[1])
    assert not np.array_equal(first[1], second[1])  # the style changes what is drawn


def test_the_mix_and_the_evaluation_of_a_style_model(style_run: Path, two_styles: Path, tmp_path: Path) -> None:
    from lstm_music.evaluate.run import main as evaluate_main

    assert generate(style_run, "--out", str(tmp_path / "mix.mid"), "--seed", "1", "--length", "60").returncode == 0
    assert read_piece(tmp_path / "mix.mid").events
    report = tmp_path / "r.json"
    flags = ["--checkpoint", str(style_run), "--data", str(two_styles), "--cache-dir", str(tmp_path / "cache")]
    assert evaluate_main([*flags, "--workers", "1", "--generate", "2", "--length", "40", "--json", str(report)]) == 0
    import json

    result = json.loads(report.read_text())
    styles = result["held_out"]["nats_per_note_styles"]
    assert styles["true"] > 0 and styles["shuffled"] > 0 and styles["labelled_pieces"] in (0, 1)
    assert sorted(result["music"]["styles"]) == ["fsharp", "scales"]  # both generated and classified
    assert all(row["generated_pieces"] == 2 for row in result["music"]["styles"].values())
    # the training pieces of the style held out, classified like the rest (1 piece held out: one style)
    (row,) = [row for row in result["music"]["styles"].values() if row["real_segments"]]
    assert row["training_segments"] >= 2 and 0 <= row["training_accuracy"] <= 1
    for name, music in result["music"]["styles_music"].items():  # each style against its own real pieces
        assert music["real_pieces"] == 3 and len(music["per_piece"]["pitch_range"]["generated"]) == 2, name


def test_the_style_classifier_tells_scales_from_chords(tmp_path: Path) -> None:
    from lstm_music.data.preparation import prepare_piece
    from lstm_music.evaluate.metrics import style_accuracy, style_features

    def features(path: Path) -> list:
        return [style_features(prepare_piece(read_piece(path), "note", False, True).events)]

    real = {
        "scales": [features(scales(tmp_path / f"s{k}.mid", k)) for k in range(3)],
        "fsharp": [features(chords(tmp_path / f"c{k}.mid", k)) for k in range(3)],
    }
    training = {"fsharp": features(chords(tmp_path / "t0.mid", 1)) + 2 * features(scales(tmp_path / "t1.mid", 2))}
    report = style_accuracy(real, {"scales": real["fsharp"][0] + real["scales"][1]}, training)
    assert report["scales"]["real_accuracy"] == report["fsharp"]["real_accuracy"] == 1.0
    assert report["scales"]["generated_accuracy"] == 0.5 and report["scales"]["relative"] == 0.5
    assert report["fsharp"]["generated_accuracy"] is None  # nothing generated in that style
    # one of the three fsharp training segments is fsharp-like: a third is the most a copy of them could score
    assert report["fsharp"]["training_segments"] == 3 and report["fsharp"]["training_relative"] == pytest.approx(1 / 3)
    assert report["scales"]["training_accuracy"] is None  # no training pieces given for it
