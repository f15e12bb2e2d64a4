"""The music report over several sampling seeds: one 10-piece sample moves by 5-10 points, so choices
are judged on the mean of several (the numbers in docs/BENCHMARKS.md come from here).

    python benchmarks/music_seeds.py --checkpoint weights/RUN --data midi_songs --seeds 5 [evaluate flags]

Runs `python -m lstm_music.evaluate --generate 10 --seed S` for S = 0..seeds-1 (any further flags are
passed on), then prints per metric the real range, the generated median of each seed and how many
generated values fall outside the real 10-90% range, the median of all seeds' pieces together, and
per seed the share outside and the loops.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstm_music.evaluate import evaluate, parse_args  # noqa: E402


def print_instruments(reports: list[dict]) -> None:
    """Per instrument: its real range and each seed's generated median of event share and pitch
    range (`*` outside the real 10-90% range), and the share of its notes outside its real pitches."""
    print("\n| instrument | event share real | generated per seed | pitch range real | generated per seed "
          "| notes outside its real pitches, per seed |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for token, first in reports[0].items():
        cells = []
        for name in ("event_share", "pitch_range"):
            if "real_p10" not in first[name]:
                cells += ["-", "-"]
                continue
            medians = []
            for report in reports:
                row = report.get(token, {}).get(name, {})
                value = row.get("generated_median")
                medians.append("-" if value is None else f"{value:.2f}{'' if row.get('median_inside') else '*'}")
            cells += [f"{first[name]['real_p10']:.2f}-{first[name]['real_p90']:.2f}", ", ".join(medians)]
        outside = ", ".join(f"{r.get(token, {}).get('notes_outside_range', 0):.1%}" for r in reports)
        print(f"| {token} | {' | '.join(cells)} | {outside} |")


def main() -> None:
    """Run the report for each seed and print the summary table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--out", type=Path, help="also write every report to this JSON file")
    own, rest = parser.parse_known_args()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(own.seeds):
            out = Path(tmp) / f"{seed}.json"
            evaluate(parse_args([*rest, "--generate", "10", "--seed", str(seed), "--json", str(out)]))
            reports.append(json.loads(out.read_text()))
    music = [r["music"] for r in reports]
    print(f"\n### Music report over seeds 0-{own.seeds - 1}: {reports[0]['checkpoint']} on {reports[0]['data']}\n")
    print("| metric | real p10 | real median | real p90 | generated median per seed | median of all | outside (all) |")
    print("|---|---|---|---|---|---|---|")
    pooled_inside, values = 0, []
    for name, first in music[0]["per_piece"].items():
        if "real_median" not in first:
            continue
        medians = []
        for m in music:
            row = m["per_piece"][name]
            medians.append(f"{row['generated_median']:.2f}{'' if row['median_inside'] else '*'}")
        outside = sum(m["per_piece"][name]["generated_outside"] for m in music)
        values = [v for m in music for v in m["per_piece"][name]["generated"]]
        pooled = float(np.median(values))
        inside = first["real_p10"] <= pooled <= first["real_p90"]
        pooled_inside += inside
        print(
            f"| {name} | {first['real_p10']:.2f} | {first['real_median']:.2f} | {first['real_p90']:.2f} | "
            f"{', '.join(medians)} | {pooled:.2f}{'' if inside else '*'} | {outside}/{len(values)} |"
        )
    shares = [m["generated_outside_share"] for m in music]
    print(f"\nvalues outside the real range per seed: {', '.join(f'{s:.0%}' for s in shares)}; "
          f"mean {sum(shares) / len(shares):.0%} (real pieces: {music[0]['real_outside_share']:.0%})")  # fmt: skip
    inside = [sum(row.get("median_inside", True) for row in m["per_piece"].values()) for m in music]
    print(f"medians inside per seed: {', '.join(map(str, inside))} of {len(music[0]['per_piece'])}")
    ranged = sum("real_median" in row for row in music[0]["per_piece"].values())
    print(f"medians of all {len(values)} pieces inside seed 0's real range: {pooled_inside} of {ranged}")
    print(f"pieces stuck in loops per seed: {', '.join(str(len(m['loops'])) for m in music)}")
    if "instruments" in music[0]:
        print_instruments([m["instruments"] for m in music])
    if own.out:
        own.out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
