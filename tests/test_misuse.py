"""What a new user trips on: each case ends in one line and the exit status the rules say, and loses
nothing. (The slow ones, Ctrl-C and two real trainings at once, are in test_robust.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import CHORALES, ROOT, shipped, train_args, write_tracks
from reference_sampler import choose

from lstm_music.generate.sampling import choose_ops
from lstm_music.model.checkpoint import BEST, CheckpointError
from lstm_music.model.run_folder import LOCK, claim_run_dir, new_run_dir, release_run_dir


def test_the_sampler_never_draws_a_special_token_at_any_temperature() -> None:
    rows = np.array(
        [
            [0.3, 0.3, 0.2, 0.2, 0.0],  # most of the mass on the special tokens
            [0.5, 0.5, 0.0, 0.0, 0.0],  # all of it
            [0.0, 0.0, 0.25, 0.25, 0.5],
            [0.0, 0.0, 1e-30, 1e-30, 1e-30],  # tiny and tied
        ],
        dtype=np.float32,
    )
    for temperature in (1e-30, 1e-9, 1e-3, 1.0, 100.0):
        for top_k, top_p in ((0, 1.0), (2, 1.0), (0, 0.5)):
            for draw in (0.0, 0.5, 1.0 - 1e-7):
                picks = np.asarray(choose_ops(rows, temperature, top_k, top_p, np.full(len(rows), draw, np.float32)))
                assert (picks >= 2).all(), (temperature, top_k, top_p, draw, picks)
            rng = np.random.default_rng(0)
            assert (choose(rows, temperature, top_k, top_p, rng) >= 2).all()
    assert np.asarray(choose_ops(rows, 1e-9, 0, 1.0, np.full(4, 0.5, np.float32)))[2] == 4  # the likeliest


def test_a_tiny_temperature_generates_a_piece(tiny_run: Path, tmp_path: Path) -> None:
    from generate_music import main

    out = tmp_path / "cold.mid"
    flags = ["--checkpoint", str(tiny_run), "--out", str(out), "--temperature", "1e-9", "--length", "300"]
    assert main([*flags, "--seed", "1"]) == 0 and out.is_file()


def test_a_run_folder_is_held_by_one_training_at_a_time(tiny_data: Path, tmp_path: Path, capsys) -> None:
    from train import main

    weights = tmp_path / "weights"
    run_dir, lock = claim_run_dir(weights, "shared", "small")  # another training holds it
    assert (run_dir / LOCK).exists()
    assert main(train_args(tiny_data, weights, tmp_path / "cache", "shared", "--epochs", "1")) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {run_dir} is being trained by another process now: choose another --run-name"
    )
    with pytest.raises(CheckpointError, match="being trained by another process"):
        claim_run_dir(weights, "shared", "small")
    release_run_dir(run_dir, lock)
    assert not run_dir.exists()  # nothing was written in it: nothing is left
    assert main(train_args(tiny_data, weights, tmp_path / "cache", "shared", "--epochs", "1")) == 0
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([BEST, "latest.weights.h5", "history.csv",
                                                                "history.png", "train_rows.npy"])  # fmt: skip
    with pytest.raises(CheckpointError, match="already holds a trained run"):
        claim_run_dir(weights, "shared", "small")
    assert not (run_dir / LOCK).exists()


def test_default_run_names_never_collide(tmp_path: Path) -> None:
    names = [new_run_dir(tmp_path, "20261205-101010-default").name for _ in range(3)]
    assert names == ["20261205-101010-default", "20261205-101010-default-2", "20261205-101010-default-3"]


def test_a_run_that_never_reached_a_checkpoint_does_not_block_its_name(tmp_path: Path, capsys) -> None:
    left = tmp_path / "weights" / "killed"
    left.mkdir(parents=True)
    for name in ("history.csv", "train_rows.npy", "history.png"):
        (left / name).write_text("from a run killed in its first epoch")
    (left / "notes.txt").write_text("the user's own file stays")
    run_dir, lock = claim_run_dir(tmp_path / "weights", "killed", "small")
    assert "stopped before its first checkpoint" in capsys.readouterr().out
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK, "notes.txt"]
    release_run_dir(run_dir, lock)
    (left / "epoch001-val_loss7.0000.weights.h5").write_bytes(b"a checkpoint is never thrown away")
    with pytest.raises(CheckpointError, match="checkpoints of an unfinished run"):
        claim_run_dir(tmp_path / "weights", "killed", "small")


@pytest.mark.parametrize(
    ("backend", "message"),
    [("nonsense", "not a backend this toolkit runs on (tensorflow, jax, torch)"),
     ("torch", "torch is not installed (pip install torch, or unset it)")],
)  # fmt: skip
def test_an_unusable_backend_is_named_in_one_line(tiny_run: Path, tmp_path: Path, backend: str, message: str):
    import importlib.util

    if backend == "torch" and importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    env = {**os.environ, "KERAS_BACKEND": backend}
    for command in (["generate_music.py", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "x.mid")],
                    ["train.py", "--data", str(tmp_path), "--weights-dir", str(tmp_path / "w")]):  # fmt: skip
        result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"error: KERAS_BACKEND={backend}: {message}"]
    assert not (tmp_path / "w").exists()


def test_a_picture_that_cannot_be_written_is_named(tiny_run: Path, tmp_path: Path, capsys) -> None:
    from generate_music import main

    (tmp_path / "piece.png").mkdir()  # a folder where the piano roll should go
    assert main(["--checkpoint", str(tiny_run), "--out", str(tmp_path / "piece.mid"), "--png", "--length", "20"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: cannot write {tmp_path / 'piece.png'}:")
    assert (tmp_path / "piece.mid").is_file()  # the MIDI file written before it is kept


@pytest.mark.parametrize(
    ("flags", "refused"),
    [(["--preset", "default"], "--preset default: --resume {} was trained with small"),
     (["--embedding", "32"], "--embedding 32: --resume {} was trained with 8"),
     (["--representation", "chord"], "--representation chord: --resume {} was trained with note"),
     (["--key", "keep"], "--key keep: --resume {} was trained with common")],
)  # fmt: skip
def test_a_setting_that_resume_cannot_change_is_refused(tiny_run, tiny_data, tmp_path, capsys, flags, refused):
    from train import main

    best = tiny_run / BEST
    resumed = train_args(tiny_data, tmp_path, tmp_path / "cache", "again", "--epochs", "1", "--resume", str(best))
    assert main([*resumed, *flags]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {refused.format(best)}")
    assert not (tmp_path / "again").exists()
    assert main([*resumed, "--preset", "small"]) == 0  # the checkpoint's own setting, named again, is fine
    assert "model: preset small" in capsys.readouterr().out


def test_style_rows_that_name_no_piece_are_counted_and_warned_about(tiny_data: Path, tmp_path: Path) -> None:
    table = tmp_path / "styles.csv"
    rows = [f"{name},bach" for name in CHORALES[:2]] + ["missing.mid,mozart", str(tmp_path / "elsewhere.mid") + ",x"]
    table.write_text("path,style\n" + "\n".join(rows) + "\n")
    command = [sys.executable, "train.py", "--parse-only", "--data", str(tiny_data), "--styles", str(table),
               "--cache-dir", str(tmp_path / "cache"), "--min-style-pieces", "1"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    warning = f"warning: --styles {table}: 2 of 4 rows name no piece under {tiny_data} (such as 'missing.mid')"
    assert warning in result.stderr
    assert "styles (1): bach 2 pieces" in result.stdout


def test_a_midi_file_of_format_2_is_skipped_with_its_reason(tmp_path: Path) -> None:
    from lstm_music.data.corpus import load_corpus

    write_tracks(tmp_path / "one.mid", [[(0, 1, 60, 0)]])
    song = mido.MidiFile(str(shipped(CHORALES[0])))
    song.type = 2
    song.save(str(tmp_path / "songs.mid"))
    corpus = load_corpus(tmp_path, None, workers=1, progress=False)
    assert corpus.skipped == [("songs.mid", "MIDI format 2 (a song per track) is not supported: save it as format 1")]


def test_a_ctrl_c_python_would_drop_in_a_callback_still_stops_the_run_with_one_line() -> None:
    # SIGINT while Keras loads can land in the import system's lock cleanup, a weak-reference
    # callback: Python prints "Exception ignored ... KeyboardInterrupt" there and goes on, and the
    # command used to finish with status 0. Here a callback raises it, as that one did.
    script = (
        "import sys, time, weakref\n"
        "from lstm_music.cli import exit_status\n"
        "class Held: pass\n"
        "def dropped(_):\n"
        "    raise KeyboardInterrupt\n"
        "def run():\n"
        "    held = Held(); watch = weakref.ref(held, dropped)\n"
        "    del held\n"
        "    for _ in range(100): time.sleep(0.01)\n"
        "    print('finished', file=sys.stderr)\n"
        "sys.exit(exit_status(run))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines() == ["interrupted"], result.stderr
