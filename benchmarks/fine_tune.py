"""Fine-tuning the base model against training from scratch, on small folders of collections the
base never heard: held-out nats per note, the real-vs-generated classifier and the music report.

    python benchmarks/fine_tune.py --collection folk=corpus_midi/ryansMammoth --collection songs=midi_songs

For each collection, `--test` pieces (drawn with `--seed`) are held out for scoring, and folders of
the first N of the other pieces (`--sizes`) are trained twice with the same `--minutes`: from
scratch, and with `--init-from` the base. The two runs of a folder train side by side (`--together`,
the default: each gets half of the machine, as on a slow hour, and neither is favoured by the
machine's speed changing between them). One Markdown row per run goes to stdout and to
benchmarks/results/fine_tune.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from train_and_score import RESULTS, ROOT, row, score

FOLDERS = RESULTS / "fine_tune"
WEIGHTS = ROOT / "weights" / "fine_tune"
SECONDS = "seconds.txt"


def folders(name: str, data: Path, sizes: list[int], test: int, seed: int) -> tuple[Path, dict[int, Path]]:
    """The test folder and one training folder per size of the collection `data` (links to its files;
    a size larger than the collection's pieces beside the test ones takes them all, and is named so)."""
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    random.Random(seed).shuffle(files)
    sizes = sorted({min(size, len(files) - test) for size in sizes})
    chosen = {"test": files[:test]} | {f"n{size}": files[test : test + size] for size in sizes}
    for label, paths in chosen.items():
        folder = FOLDERS / name / label
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            link = folder / f"{path.parent.name}_{path.name}"
            if not link.exists():
                link.symlink_to(path.resolve())
    return FOLDERS / name / "test", {size: FOLDERS / name / f"n{size}" for size in sizes}


def train(folder: Path, run: str, minutes: float, extra: list[str]) -> subprocess.Popen:
    """Start train.py on `folder` as run `run` under weights/fine_tune/ (replacing an earlier one)."""
    shutil.rmtree(WEIGHTS / run, ignore_errors=True)
    command = [sys.executable, "train.py", "--data", str(folder), "--weights-dir", str(WEIGHTS), "--run-name", run,
               "--max-minutes", str(minutes), "--progress", "2", *extra]  # fmt: skip
    log = open(RESULTS / f"{run}.train.log", "w")  # noqa: SIM115 - closed with the process below
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def train_both(folder: Path, runs: dict[str, list[str]], minutes: float, one_at_a_time: bool) -> None:
    """Train each of `runs` (name -> extra flags) on `folder`, side by side unless `one_at_a_time`;
    write each run's wall seconds into its folder (`SECONDS`)."""
    started = {}
    for run, extra in runs.items():
        started[run] = (time.perf_counter(), train(folder, run, minutes, extra))
        if one_at_a_time:
            started[run][1].wait()
    while started:  # each run's own time: the first to end is not waited for behind the other
        for run, (start, process) in list(started.items()):
            if process.poll() is None:
                continue
            if process.returncode:
                raise SystemExit(f"training {run} failed: see {RESULTS / f'{run}.train.log'}")
            (WEIGHTS / run / SECONDS).write_text(f"{time.perf_counter() - start:.1f}")
            del started[run]
        time.sleep(0.5)


def epochs(run: str) -> int:
    """How many epochs run `run` trained."""
    with open(WEIGHTS / run / "history.csv", newline="") as handle:
        return len(list(csv.DictReader(handle)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", action="append", required=True, help="NAME=FOLDER (repeatable)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--test", type=int, default=20, help="held-out pieces per collection")
    parser.add_argument("--minutes", type=float, default=10.0, help="train.py --max-minutes of every run")
    parser.add_argument("--base", default="base", help="what the fine-tuned runs start from (--init-from)")
    parser.add_argument("--generate", type=int, default=10, help="pieces generated per run for the music report")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="seed of the test split and the evaluation")
    parser.add_argument("--one-at-a-time", action="store_true", help="train the two runs of a folder in turn")
    parser.add_argument("--score-only", action="store_true", help="score the runs already trained")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for spec in args.collection:
        name, data = spec.split("=", 1)
        test, sized = folders(name, Path(data), args.sizes, args.test, args.seed)
        for size, folder in sized.items():
            runs = {f"{name}-n{size}-scratch": [], f"{name}-n{size}-tuned": ["--init-from", args.base]}
            if not args.score_only:
                train_both(folder, runs, args.minutes, args.one_at_a_time)
            for run in runs:
                label = f"{run}.g{args.generate}"
                report = score(WEIGHTS / run, test, label, args.generate, args.length, args.seed, [])
                seconds = float((WEIGHTS / run / SECONDS).read_text())
                line = row(f"{run} ({epochs(run)} epochs, {args.generate} generated)", seconds, report)
                print(line, flush=True)
                with open(RESULTS / "fine_tune.md", "a") as handle:
                    handle.write(line + "\n")


if __name__ == "__main__":
    main()
