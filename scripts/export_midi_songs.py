"""Export the shipped training sets from the score corpus inside music21.

Every piece is public domain and comes from music21's own corpus; nothing is downloaded.
- `midi_songs/` (the default): each score as a multi-track MIDI file whose tracks all play
  acoustic piano, in one sub-folder per composer (`midi_songs/bach/`, `midi_songs/joplin/`, ...), so
  that a model learns each composer as a style.
- `midi_ensembles/`: every string quartet of the corpus (Beethoven, Haydn, Mozart), each part on
  its own instrument: violin, violin, viola and cello. Some corpus files name a part's instrument
  wrongly (a piano, a "string ensemble", a violin with the cello's program) or not at all, so the
  parts get the quartet's instruments in score order, the order every quartet score uses.
Rerun it any time: `python scripts/export_midi_songs.py [--out midi_songs] [--force]`; existing files are
kept unless `--force` is given, so an interrupted export resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from music21 import bar, corpus, instrument, repeat

CORPUS_ROOT = Path(corpus.__file__).parent

# (corpus path, how many files at most); Bach chorales are short, so many are taken.
SELECTION: list[tuple[str, int]] = [
    ("joplin", 10),
    ("mozart", 20),
    ("schoenberg/opus19", 10),
    ("schumann_clara", 10),
    ("beethoven/opus18no1", 4),
    ("beethoven/opus59no1", 4),
    ("beethoven/opus59no2", 4),
    ("haydn", 9),
    ("chopin", 5),
    ("schubert", 5),
    ("bach/bwv", 60),
]


# (corpus path, how many files at most): the string quartets, one file per movement where the corpus splits them.
QUARTETS: list[tuple[str, int]] = [
    ("beethoven", 100),
    ("haydn", 100),
    ("mozart/k80", 10),
    ("mozart/k155", 10),
    ("mozart/k156", 10),
    ("mozart/k458", 10),
]
QUARTET = (instrument.Violin, instrument.Violin, instrument.Viola, instrument.Violoncello)


def corpus_files(prefix: str, limit: int) -> list[Path]:
    """Return up to `limit` score files under music21's corpus folder `prefix`, sorted."""
    folder = CORPUS_ROOT / prefix
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.suffix in {".mxl", ".xml", ".krn"})
    else:
        files = sorted(p for p in folder.parent.glob(folder.name + "*") if p.suffix in {".mxl", ".xml", ".krn"})
    # Beethoven quartets exist both as .krn and .mxl: keep one copy of each movement.
    seen: set[str] = set()
    unique = []
    for path in files:
        stem = str(path.relative_to(CORPUS_ROOT).with_suffix(""))
        if stem not in seen:
            seen.add(stem)
            unique.append(path)
    return unique[:limit]


def export_one(path: Path, target: Path, quartet: bool = False) -> Path:
    """Write one corpus score to `target` as MIDI without grace notes: every part on piano, or with
    `quartet` on the string quartet's instruments in score order."""
    score = corpus.parse(str(path))
    # Grace notes have no length; MIDI cannot hold them, so they are left out.
    for grace in [n for n in score.recurse().notes if n.duration.isGrace]:
        grace.activeSite.remove(grace)
    if quartet and len(score.parts) != len(QUARTET):
        raise ValueError(f"{path}: {len(score.parts)} parts, not a string quartet")
    for i, part in enumerate(score.parts):
        for old in part.recurse().getElementsByClass(instrument.Instrument):
            part.remove(old, recurse=True)
        part.insert(0, QUARTET[i]() if quartet else instrument.Piano())
    try:
        score.write("midi", fp=target)
    except repeat.ExpanderException:
        # Badly formed repeat marks: play the score once, as written.
        for mark in list(score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatMark))):
            mark.activeSite.remove(mark)
        score.write("midi", fp=target)
    return target


def export(out: Path, force: bool, workers: int, quartets: bool = False) -> int:
    """Write every selected score as a piano MIDI file under `out` (with `quartets`, every string
    quartet on its instruments); return how many files exist now."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for prefix, limit in QUARTETS if quartets else SELECTION:
        for path in corpus_files(prefix, limit):
            name = "_".join(path.relative_to(CORPUS_ROOT).with_suffix("").parts) + ".mid"
            target = out / name if quartets else out / prefix.split("/")[0] / name  # the composer's folder
            jobs.append((path, target))
    todo = [(path, target) for path, target in jobs if force or not target.exists()]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths, targets = [path for path, _ in todo], [target for _, target in todo]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        for target in pool.map(export_one, paths, targets, [quartets] * len(todo)):
            print(target, file=sys.stderr)
    return sum(target.exists() for _, target in jobs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("midi_songs"), help="folder of the piano pieces")
    parser.add_argument(
        "--ensembles-out", type=Path, default=Path("midi_ensembles"), help="folder of the string quartets"
    )
    parser.add_argument("--force", action="store_true", help="rewrite files that already exist")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes to export with")
    args = parser.parse_args()
    print(f"{export(args.out, args.force, args.workers)} MIDI files in {args.out}/")
    print(f"{export(args.ensembles_out, args.force, args.workers, quartets=True)} MIDI files in {args.ensembles_out}/")
