"""Data-parallel training on the backends' own engines, tried on two logical CPUs: the same loss as
one device for the same seed and global batch, and checkpoints that resume and generate as any other."""

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, train_args

from lstm_music.model.checkpoint import BEST, LATEST

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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes(data: Path, weights: Path, run: str, *extra: str) -> list[subprocess.CompletedProcess]:
    """Two train.py processes on 127.0.0.1 that train one model together under JAX."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    meet = ["--distribute", "--processes", "2", "--coordinator", f"127.0.0.1:{free_port()}"]
    commands = [
        [sys.executable, "train.py", *train_args(data, weights, weights / "cache", run, *meet, *extra)]
        + ["--process-id", str(i)]
        for i in range(2)
    ]
    started = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    results = []
    for process in started:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    return results


def test_two_processes_train_one_model_as_two_devices_of_one_process_do(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    scratch = set(Path(tempfile.gettempdir()).glob("lstm-music-process*"))
    first, second = processes(tiny_data, tmp_path, "pair", "--epochs", "2")
    assert "--distribute: data parallel over 2 devices in 2 processes (jax)" in first.stdout
    assert "process 1: done (process 0 wrote the checkpoints)" in second.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "pair"]  # process 1 wrote nothing here
    assert set(Path(tempfile.gettempdir()).glob("lstm-music-process*")) == scratch  # and left no scratch folder
    train(tiny_data, tmp_path, "one", "jax", "--epochs", "2", "--cpu-devices", "2", "--distribute")
    with open(tmp_path / "pair" / "history.csv") as pair, open(tmp_path / "one" / "history.csv") as one:
        for a, b in zip(csv.DictReader(pair), csv.DictReader(one), strict=True):
            assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
            assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-5)
    # a time limit read on each process's own clock still stops both at the same batch
    processes(tiny_data, tmp_path, "timed", "--epochs", "50", "--max-minutes", "0.002",
              "--resume", str(tmp_path / "pair" / LATEST))  # fmt: skip
    with open(tmp_path / "timed" / "history.csv") as timed:
        assert len(list(csv.DictReader(timed))) == 1
    out = tmp_path / "piece.mid"
    flags = ["--checkpoint", str(tmp_path / "timed" / BEST), "--out", str(out), "--length", "30", "--seed", "1"]
    made = subprocess.run([sys.executable, "generate_music.py", *flags], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0 and out.stat().st_size > 0, made.stderr


def test_several_processes_need_jax_and_a_coordinator(tiny_data: Path, tmp_path: Path) -> None:
    flags = train_args(tiny_data, tmp_path, tmp_path / "cache", "x", "--distribute", "--processes", "2")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    run = [sys.executable, "train.py", *flags]
    result = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True)
    assert (
        result.returncode == 2 and "--processes: several processes need --distribute and --coordinator" in result.stderr
    )
    result = subprocess.run([*run, "--coordinator", "127.0.0.1:1"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "--processes 2: several processes train together under JAX only (KERAS_BACKEND=jax); "
            "Keras 3 does not train under TensorFlow's MultiWorkerMirroredStrategy (keras#20585)"
        )
    )
