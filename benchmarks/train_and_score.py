"""Train on a collection within a time budget and score the run: held-out nats per note against the
n-gram, the real-vs-generated classifier beside its floor, and the music report's rows, piece by
piece. The numbers docs/BENCHMARKS.md quotes for meter (and for any change to the model or sampling).

    python benchmarks/train_and_score.py --data midi_songs --minutes 10
    python benchmarks/train_and_score.py --data corpus_midi/ryansMammoth --code /tmp/old --name folk-old

`--code` trains with another checkout of the project (a baseline: an older commit's worktree), while
the scoring always uses this checkout's evaluation, so both runs are measured alike. Each run's
evaluation JSON goes to benchmarks/results/; one Markdown row per run is printed and appended to
benchmarks/results/collections.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ROWS = ("on_beat", "on_downbeat", "beat_entropy", "notes_per_onset", "loop_share", "distinct_pitches", "pitch_range")


def train(code: Path, data: Path, weights: Path, name: str, minutes: float, extra: list[str]) -> float:
    """Train the default preset on `data` with the checkout `code`; return the wall seconds."""
    command = [sys.executable, "train.py", "--data", str(data.resolve()), "--weights-dir", str(weights),
               "--run-name", name, "--max-minutes", str(minutes), "--progress", "2", *extra]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, cwd=code, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"training {name} failed: {result.stderr[-2000:]}")
    (RESULTS / f"{name}.train.log").write_text(result.stdout)
    return time.perf_counter() - start


def score(run: Path, data: Path, name: str, generate: int, length: int, seed: int, extra: list[str]) -> dict:
    """This checkout's evaluation of `run` on `data` with `generate` pieces sampled with `seed` (and the
    evaluation flags `extra`); its JSON."""
    out = RESULTS / f"{name}.json"
    command = [sys.executable, "-m", "lstm_music.evaluate", "--checkpoint", str(run), "--data", str(data.resolve()),
               "--generate", str(generate), "--length", str(length), "--seed", str(seed),
               "--json", str(out), *extra]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"scoring {name} failed: {result.stderr[-2000:]}")
    (RESULTS / f"{name}.eval.log").write_text(result.stdout)
    return json.loads(out.read_text())


def row(name: str, seconds: float, report: dict) -> str:
    """One Markdown row: nats per note (network with repeats, n-gram), the classifier and its floor,
    and for each of `ROWS` the generated median, the real 10-90% range and the pieces outside it."""
    per_note = report["held_out"]["nats_per_note"]
    music = report["music"]
    realness = music.get("realness", {})

    def accuracy(part: str) -> str:
        value = realness.get(part, {}).get("balanced_accuracy")
        return "-" if value is None else f"{value:.2f}"

    cells = [name, f"{seconds / 60:.1f}", f"{per_note.get('model', float('nan')):.3f}",
             f"{per_note.get('model_with_repeats', float('nan')):.3f}", f"{per_note['ngram']:.3f}",
             accuracy("generated"), accuracy("floor")]  # fmt: skip
    for metric in ROWS:
        line = music["per_piece"].get(metric)
        if not line or "real_median" not in line:
            cells.append("-")
            continue
        mark = "" if line["median_inside"] else "*"
        cells.append(
            f"{line['generated_median']:.2f}{mark} [{line['real_p10']:.2f}-{line['real_p90']:.2f}] "
            f"{line['generated_outside']}/{len(line['generated'])}"
        )
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout that trains (default: this one)")
    parser.add_argument("--name", help="run name (default: the data folder's)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--generate", type=int, default=30)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--weights", type=Path, default=ROOT / "weights" / "bench")
    parser.add_argument("--train-flag", action="append", default=[], help="a flag for train.py (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="the evaluation's sampling seed")
    parser.add_argument("--eval-flag", action="append", default=[], help="a flag for the evaluation (repeatable)")
    parser.add_argument("--tag", default="", help="a label for this scoring, added to the row and file names")
    parser.add_argument("--score-only", action="store_true", help="score the run already in --weights")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.name or args.data.name
    seconds = 0.0
    if not args.score_only:
        seconds = train(args.code.resolve(), args.data, args.weights.resolve(), name, args.minutes, args.train_flag)
    label = f"{name}.s{args.seed}" + (f".{args.tag}" if args.tag else "")
    report = score(args.weights / name, args.data, label, args.generate, args.length, args.seed, args.eval_flag)
    line = row(f"{name} (seed {args.seed}{', ' + args.tag if args.tag else ''})", seconds, report)
    print(line)
    with open(RESULTS / "collections.md", "a") as handle:
        handle.write(line + "\n")


if __name__ == "__main__":
    main()
