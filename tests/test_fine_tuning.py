"""train.py --init-from: fine-tuning starts from a checkpoint's weights, keeps its vocabularies and
architecture, learns a new folder's styles, and refuses what it cannot start from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import CHORALES, shipped, train_args

from lstm_music.model import checkpoint
from lstm_music.model.checkpoint import BASE_RUN, BEST, load_checkpoint, read_metadata
from lstm_music.streams import STREAMS

ROOT = Path(__file__).resolve().parents[1]
OTHERS = ["bach_bwv153.1.mid", "bach_bwv153.5.mid", "bach_bwv153.9.mid"]


def styled_folder(folder: Path, styles: dict[str, list[str]]) -> Path:
    """`folder` with one sub-folder per style holding the named pieces of midi_songs/."""
    for style, names in styles.items():
        (folder / style).mkdir(parents=True)
        for name in names:
            (folder / style / name).write_bytes(shipped(name).read_bytes())
    return folder


@pytest.fixture(scope="module")
def styled_run(tmp_path_factory) -> Path:
    """A tiny run on chorales in two styles, "a" and "b": the checkpoint fine-tuning starts from."""
    from train import main

    data = styled_folder(tmp_path_factory.mktemp("styled"), {"a": CHORALES[:3], "b": CHORALES[3:]})
    weights = tmp_path_factory.mktemp("weights")
    args = train_args(data, weights, tmp_path_factory.mktemp("cache"), "source", "--epochs", "2", "--val-fraction", "0")
    assert main(args) == 0
    return weights / "source"


def test_init_from_starts_from_the_weights_it_loads_and_keeps_their_tokens(
    styled_run: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import keras

    import lstm_music.model.training as training
    from lstm_music.data import dataset
    from lstm_music.model.network import compile_model
    from train import main

    first, made = {}, []

    class FirstBatch(keras.callbacks.Callback):  # a training batch's loss before any step changes the weights
        def on_train_begin(self, logs=None):
            inputs, targets, weight = first["batch"] = next(d for d in made if d.shuffle)[0]
            weights = {s: weight for s in STREAMS}
            first["loss"] = self.model.test_on_batch(inputs, targets, sample_weight=weights, return_dict=True)["loss"]

    original_init = dataset.WindowDataset.__init__
    monkeypatch.setattr(
        dataset.WindowDataset, "__init__", lambda self, *a, **k: made.append(self) or original_init(self, *a, **k)
    )
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda args, resumed=None: real_train(args, [FirstBatch()], resumed))
    data = styled_folder(tmp_path / "mine", {"c": OTHERS, "a": CHORALES[:1]})
    args = train_args(data, tmp_path, tmp_path / "cache", "tuned", "--epochs", "1", "--init-from", str(styled_run))
    assert main(args) == 0
    assert "init-from: 1 new style from this folder (c)" in capsys.readouterr().out

    source, source_metadata, source_vocabularies = load_checkpoint(styled_run / BEST)
    tuned = read_metadata(tmp_path / "tuned" / BEST)
    assert tuned.vocabularies == source_metadata.vocabularies  # every token keeps its index
    assert tuned.styles == ["a", "b", "c"]  # the checkpoint's styles keep theirs; the folder's new one follows
    assert tuned.epoch == 1 and tuned.training["learning_rate"] == 5e-4  # a new run, at the fine-tuning rate
    assert tuned.training["init_from"] == str(styled_run / BEST)

    # the loaded model, on the same batch, gives the loss the fine-tuned model started from: the new
    # style's row starts as the unlabelled style's (index 0), which the source model reads instead
    compile_model(source)
    inputs, targets, weight = first["batch"]
    styles = np.asarray(inputs["style"])
    assert (styles == 3).any() or (styles == 1).any()  # the batch reads a style
    inputs = dict(inputs, style=np.where(styles > len(source_metadata.styles), 0, styles))
    expected = source.test_on_batch(inputs, targets, sample_weight={s: weight for s in STREAMS}, return_dict=True)
    assert first["loss"] == pytest.approx(expected["loss"], rel=1e-5)


@pytest.mark.parametrize(
    ("flags", "refused"),
    [(["--embedding", "32"], "--embedding 32: --init-from {} was trained with 8"),
     (["--representation", "chord"], "--representation chord: --init-from {} was trained with note"),
     (["--resume", "x.weights.h5"], "--init-from: starts a new run from a checkpoint; --resume continues one")],
)  # fmt: skip
def test_init_from_refuses_another_architecture(styled_run, tiny_data, tmp_path, capsys, flags, refused) -> None:
    from train import main

    args = [*train_args(tiny_data, tmp_path, tmp_path / "cache", "tuned", "--init-from", str(styled_run)), *flags]
    if "--resume" in flags:  # a contradiction on the command line: argparse's usage error
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
    else:
        assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert refused.format(styled_run) in error[-1]
    assert not (tmp_path / "tuned").exists()


def test_init_from_a_file_that_is_not_a_checkpoint_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.weights.h5"
    bogus.write_text("not a checkpoint")
    for start in (str(bogus), str(tmp_path / "missing")):
        result = subprocess.run(
            [sys.executable, "train.py", "--data", str(ROOT / "midi_songs"), "--init-from", start],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and start in result.stderr


def test_a_fresh_clone_generates_from_the_shipped_base(tmp_path: Path) -> None:
    assert checkpoint.resolve_checkpoint("base") == BASE_RUN / BEST
    base = read_metadata(BASE_RUN / BEST)
    assert (BASE_RUN / BEST).stat().st_size <= 10 * 2**20
    assert base.meters and len(base.styles) >= 5  # the base reads meter and knows its collections as styles
    empty = tmp_path / "weights"
    empty.mkdir()
    out = tmp_path / "piece.mid"
    command = [
        sys.executable,
        "generate_music.py",
        "--weights-dir",
        str(empty),
        "--out",
        str(out),
        "--length",
        "60",
        "--seed",
        "0",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {BASE_RUN / BEST}" in result.stderr and "--init-from base" in result.stderr
    notes = [m for m in mido.MidiFile(out) if m.type == "note_on" and m.velocity > 0]
    assert len(notes) >= 50 and len({m.note for m in notes}) > 5  # 60 events; a unison sounds once


def test_without_a_run_or_the_base_generation_says_to_train(tmp_path: Path, monkeypatch, capsys) -> None:
    from generate_music import main

    monkeypatch.setattr(checkpoint, "BASE_RUN", tmp_path / "gone")
    (tmp_path / "empty").mkdir()
    assert main(["--weights-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "a.mid")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"error: no checkpoint in {tmp_path / 'empty'}/: train one first with `python train.py`"


def test_init_from_base_names_the_base_and_keeps_its_settings(tiny_data: Path, tmp_path: Path, capsys) -> None:
    from train import main

    args = ["--data", str(tiny_data), "--weights-dir", str(tmp_path), "--init-from", "base", "--preset", "small"]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: --preset small: --init-from base was trained with default; a run from a checkpoint "
                     "keeps its model and data settings (leave --preset out, or train from scratch)"]  # fmt: skip
