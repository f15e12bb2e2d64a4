"""Data-parallel training on the backends' own engines, tried on two logical CPUs: the same loss as
one device for the same seed and global batch, and checkpoints that resume and generate as any other."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, train_args

from lstm_music.checkpoint import BEST, LATEST

pytestmark = pytest.mark.robust  # slow (five training processes): make test-robust, which CI runs too


def train(data: Path, weights: Path, run: str, backend: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend}
    flags = train_args(data, weights, weights / "cache", run, "--epochs", "1", *extra)
    result = subprocess.run([sys.executable, "train.py", *flags], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def first_loss(run_dir: Path) -> float:
    with open(run_dir / "history.csv", newline="") as handle:
        return float(next(csv.DictReader(handle))["loss"])


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_replicas_train_as_one_device_and_their_checkpoint_resumes_and_generates(
    backend: str, tiny_data: Path, tmp_path: Path
) -> None:
    if backend == "jax":
        pytest.importorskip("jax")
    two = ["--cpu-devices", "2", "--distribute"]
    single = train(tiny_data, tmp_path, "one", backend)
    assert "--distribute" not in single.stdout
    pair = train(tiny_data, tmp_path, "two", backend, *two)
    assert f"--distribute: data parallel over 2 devices ({backend})" in pair.stdout
    assert first_loss(tmp_path / "two") == pytest.approx(first_loss(tmp_path / "one"), rel=1e-3)
    resumed = train(tiny_data, tmp_path, "more", backend, *two, "--resume", str(tmp_path / "two" / LATEST))
    assert "the optimizer continues from step" in resumed.stdout
    out = tmp_path / "piece.mid"
    flags = ["--checkpoint", str(tmp_path / "more" / BEST), "--out", str(out), "--length", "30", "--seed", "1"]
    made = subprocess.run([sys.executable, "generate_music.py", *flags], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0 and out.stat().st_size > 0, made.stderr


def test_distribute_with_one_device_trains_on_it_and_says_so(tiny_data: Path, tmp_path: Path) -> None:
    result = train(tiny_data, tmp_path, "alone", "tensorflow", "--distribute")
    assert "--distribute: one device found (tensorflow): training on it alone" in result.stdout
    assert (tmp_path / "alone" / BEST).exists()
