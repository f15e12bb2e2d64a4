"""The music report over several sampling seeds: one 10-piece sample moves by 5-10 points, so choices
are judged on the mean of several (the numbers in docs/BENCHMARKS.md come from here).

    python benchmarks/music_seeds.py --checkpoint weights/RUN --data midi_songs --seeds 5 [evaluate flags]

Runs `python -m lstm_music.evaluate --generate 10 --seed S` for S = 0..seeds-1 (any further flags are
passed on), then prints per metric the real range, the generated median of each seed and how many
generated values fall outside the real 10-90% range, the median of all seeds' pieces together, and
per seed the share outside and the loops. Beside them it says how often real pieces themselves would
pass the median and loop tests, sample by sample and together (`real_music_passes`): a real range from
16 or 41 real pieces is itself a sample, so a 10-piece median can fall outside it by chance.
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

from lstm_music.evaluate.music_report import LOOP_METRICS  # noqa: E402
from lstm_music.evaluate.run import evaluate, parse_args  # noqa: E402


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


DRAWS = 2000  # bootstrap draws of `real_music_passes`


def real_music_passes(per_piece: dict, samples: int, pieces: int = 10, draws: int = DRAWS) -> dict[str, float]:
    """How often real music itself would pass the report's tests, where generated pieces were as
    varied as the real ones: each draw takes a real range from as many real pieces and `samples`
    samples of `pieces` pieces, all drawn with replacement from the real pieces (a bootstrap; one
    piece's metrics stay together; the copy row, which has its own reference pieces, on its own).
    Returns the share of draws with every sample's median inside (the real range drawn again, or
    this collection's own), with no piece above the drawn real maximum of a loop metric (no loops),
    with both, and with the median of all pieces together inside."""
    rng = np.random.default_rng(0)
    ranged = [name for name, row in per_piece.items() if "real" in row]
    groups = [[n for n in ranged if n != "longest_copy"], [n for n in ranged if n == "longest_copy"]]
    groups = [group for group in groups if group]
    tables = [np.array([per_piece[n]["real"] for n in group], dtype=float).T for group in groups]
    fixed = [np.percentile(x, [10, 90], axis=0) for x in tables]
    loops = [[j for j, name in enumerate(group) if name in LOOP_METRICS] for group in groups]
    passes = dict.fromkeys(("every sample", "every sample, this real range", "no loops", "every sample, no loops"), 0)
    passes["all pieces together"] = 0
    for _ in range(draws):
        inside = this_range = no_loops = together = True
        for looped, x, (low, high) in zip(loops, tables, fixed, strict=True):
            drawn = x[rng.integers(len(x), size=len(x))]
            lo, hi = np.percentile(drawn, [10, 90], axis=0)
            made = x[rng.integers(len(x), size=(samples, pieces))]
            medians, pooled = np.median(made, axis=1), np.median(made.reshape(-1, x.shape[1]), axis=0)
            inside &= bool(np.all((lo <= medians) & (medians <= hi)))
            this_range &= bool(np.all((low <= medians) & (medians <= high)))
            together &= bool(np.all((lo <= pooled) & (pooled <= hi)))
            no_loops &= not np.any(made[..., looped] > drawn[:, looped].max(axis=0))
        for key, good in zip(passes, (inside, this_range, no_loops, inside and no_loops, together), strict=True):
            passes[key] += good
    return {key: count / draws for key, count in passes.items()}


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
    first = music[0]["per_piece"]
    if any("real" in row for row in first.values()):
        real = real_music_passes(first, len(music))
        print(
            f"real pieces in place of generated ones ({music[0]['real_pieces']} real pieces drawn with replacement, "
            f"{DRAWS:,} draws): every median inside in all {len(music)} samples in {real['every sample']:.0%} of draws "
            f"({real['every sample, this real range']:.0%} against this collection's own real range), no piece "
            f"counted as a loop in {real['no loops']:.0%}, both in {real['every sample, no loops']:.0%}; every median "
            f"of all {len(values)} pieces together in {real['all pieces together']:.0%}"
        )
    if "instruments" in music[0]:
        print_instruments([m["instruments"] for m in music])
    if own.out:
        own.out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
