"""The model runs under JAX as well as TensorFlow: train -> checkpoint -> generate -> evaluate under
KERAS_BACKEND=jax, and a checkpoint made under one backend writes the same file under the other."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, train_args

pytest.importorskip("jax", reason="JAX's CPU wheel is not installed (requirements-dev.txt installs it)")


def under(backend: str, *command: str) -> subprocess.CompletedProcess:
    """Run a script of this project under the Keras `backend`, in a fresh process."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def jax_run(tiny_data: Path, tmp_path_factory) -> Path:
    """A tiny model trained for one epoch under JAX."""
    weights = tmp_path_factory.mktemp("jax-weights")
    cache = tmp_path_factory.mktemp("jax-cache")
    under("jax", "train.py", *train_args(tiny_data, weights, cache, "jax", "--epochs", "1"))
    return weights / "jax"


def generate_under(backend: str, run: Path, out: Path) -> bytes:
    under(backend, "generate_music.py", "--checkpoint", str(run), "--out", str(out), "--length", "60", "--seed", "7")
    return out.read_bytes()


def test_a_checkpoint_made_under_jax_writes_the_same_file_under_tensorflow(jax_run: Path, tmp_path: Path) -> None:
    made = generate_under("jax", jax_run, tmp_path / "jax.mid")
    assert made == generate_under("tensorflow", jax_run, tmp_path / "tf.mid")
    assert len(made) > 100


def test_a_checkpoint_made_under_tensorflow_writes_the_same_file_under_jax(tiny_run: Path, tmp_path: Path) -> None:
    assert generate_under("jax", tiny_run, tmp_path / "jax.mid") == generate_under(
        "tensorflow", tiny_run, tmp_path / "tf.mid"
    )


def test_evaluation_under_jax_scores_as_tensorflow_does(jax_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    scores = {}
    for backend in ("jax", "tensorflow"):
        out = tmp_path / f"{backend}.json"
        flags = ["--checkpoint", str(jax_run), "--data", str(tiny_data), "--cache-dir", str(tmp_path / "cache")]
        under(backend, "-m", "lstm_music.evaluate", *flags, "--generate", "2", "--length", "30", "--json", str(out))
        scores[backend] = json.loads(out.read_text())
    jax_scores, tf_scores = scores["jax"]["held_out"], scores["tensorflow"]["held_out"]
    for name, value in tf_scores["nats_per_note"].items():
        assert jax_scores["nats_per_note"][name] == pytest.approx(value, rel=1e-4)
    assert scores["jax"]["music"]["per_piece"] == scores["tensorflow"]["music"]["per_piece"]  # the same pieces
