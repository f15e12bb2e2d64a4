"""Build the shipped base model, weights/base/best.weights.h5, in one command (`make base`).

1. Export the pretraining collection: music21's corpus beyond midi_songs/ and midi_ensembles/, with
   Ryan's Mammoth Collection kept out (`export_midi_songs.py --pretraining`).
2. Train the default preset on it within `--minutes` (train.py's defaults otherwise).
3. Store the best checkpoint with its weights in float16 (half the size; the difference in the
   weights is below 1e-3) under weights/base/, where `generate_music.py` finds it when there is no
   run of one's own and `train.py --init-from base` starts from it.

    python scripts/build_base.py [--minutes 40] [--run-name base-build]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_music.model.checkpoint import BASE_RUN, BEST  # noqa: E402

PRETRAIN = ROOT / "corpus_midi" / "pretrain"
BASE = BASE_RUN / BEST


def halve(source: Path, target: Path) -> Path:
    """Copy the checkpoint `source` to `target` with every float32 weight stored as float16 (Keras
    loads them back into float32 variables); the metadata and every attribute are kept as they are."""

    def copy(old: h5py.Group, new: h5py.Group) -> None:
        new.attrs.update(old.attrs)
        for name, item in old.items():
            if isinstance(item, h5py.Group):
                copy(item, new.create_group(name))
                continue
            values = item[()]
            half = item.dtype == np.float32 and not item.name.startswith("/lstm_music")
            new.create_dataset(name, data=values.astype(np.float16) if half else values).attrs.update(item.attrs)

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".tmp")
    with h5py.File(source, "r") as old, h5py.File(scratch, "w") as new:
        copy(old, new)
    scratch.replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=40.0, help="training time limit (train.py --max-minutes)")
    parser.add_argument("--run-name", default="base-build", help="the training run's folder under weights/")
    parser.add_argument("--seed", type=int, default=0, help="train.py --seed")
    args = parser.parse_args()
    python = sys.executable
    subprocess.run([python, "scripts/export_midi_songs.py", "--pretraining"], cwd=ROOT, check=True)
    start = time.perf_counter()
    command = [python, "train.py", "--data", str(PRETRAIN), "--max-minutes", str(args.minutes),
               "--run-name", args.run_name, "--seed", str(args.seed), "--progress", "2"]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)
    minutes = (time.perf_counter() - start) / 60
    halve(ROOT / "weights" / args.run_name / "best.weights.h5", BASE)
    print(f"{BASE}: {BASE.stat().st_size / 2**20:.1f} MiB, trained in {minutes:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
