"""Export the shipped training sets from the score corpus inside music21.

Every piece is public domain and comes from music21's own corpus; nothing is downloaded.
- `midi_songs/` (the default): each score as a multi-track MIDI file whose tracks all play
  acoustic piano, in one sub-folder per composer (`midi_songs/bach/`, `midi_songs/joplin/`, ...), so
  that a model learns each composer as a style.
- `midi_ensembles/`: every string quartet of the corpus (Beethoven, Haydn, Mozart), each part on
  its own instrument: violin, violin, viola and cello. Some corpus files name a part's instrument
  wrongly (a piano, a "string ensemble", a violin with the cello's program) or not at all, so the
  parts get the quartet's instruments in score order, the order every quartet score uses.
- `corpus_midi/pretrain/` (`--pretraining`): the rest of the corpus, what the shipped base model
  (`weights/base/`) learns from, one sub-folder per composer or collection (`PRETRAINING`). It keeps
  out every composer that `midi_songs/` or `midi_ensembles/` draws from and Ryan's Mammoth Collection
  (folk), so that fine-tuning the base on those measures transfer to music it never heard.
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
# (corpus folder, files at most, tunes at most per file): the pretraining collection. Large folders
# are capped so that the export and the base model's training fit a laptop's afternoon; a folk file
# holds hundreds of tunes, of which the first are taken.
PRETRAINING: list[tuple[str, int, int]] = [
    ("palestrina", 200, 1),
    ("monteverdi", 100, 1),
    ("trecento", 101, 1),
    ("corelli", 1, 1),
    ("cpebach", 1, 1),
    ("handel", 1, 1),
    ("schumann_robert", 7, 1),
    ("verdi", 1, 1),
    ("weber", 1, 1),
    ("beach", 1, 1),
    ("essenFolksong", 31, 12),
    ("oneills1850", 39, 8),
    ("airdsAirs", 6, 50),
    ("miscFolk", 2, 100),
]
KEPT_OUT = ("ryansMammoth", *{prefix.split("/")[0] for prefix, _ in SELECTION + QUARTETS})

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


def bar_lines(measures: list) -> list[tuple]:
    """(offset, numerator, denominator) of each time signature a MIDI file needs so that a reader's
    bar lines fall where a part's measures have them: the score's own time signatures; a measure of
    another length gets one of its own where one can say it (three beats in 2/4: 3/4), and the bar
    after it the time signature in force again; where none can (a cadenza of 5 and 17/24 beats), the
    bar after it restates the time signature there. Offsets in quarter notes from the part's start;
    a pickup's time signature starts before 0, where its bar would."""
    from fractions import Fraction

    out: list[tuple] = []
    current = last = None
    start = Fraction(0)
    for number, measure in enumerate(measures):
        pickup = Fraction(measure.paddingLeft) if number == 0 else Fraction(0)
        offset = Fraction(measure.offset) - pickup
        if measure.timeSignature is not None:
            current = (measure.timeSignature.numerator, measure.timeSignature.denominator)
        if current is None:
            continue
        beats = (Fraction(measure.duration.quarterLength) + pickup) * current[1] / 4
        wanted = (int(beats), current[1]) if beats.denominator == 1 and 1 <= beats <= 64 else current
        if wanted != last or (offset - start) % Fraction(4 * last[0], last[1]):
            out.append((offset, *wanted))
            last, start = wanted, offset
    return out


def fix_bars(target: Path, pickup: float, bars: list[tuple]) -> None:
    """Put the bar lines of the MIDI file `target` where the score has them: delay everything but its
    opening settings (tempo, key, programs) by the `pickup` (music21 writes a pickup bar's notes at
    time 0, where a reader puts the first bar line, so every bar line would fall a pickup early;
    delayed, the pickup ends a first bar of rest), and write the time signatures `bars` (`bar_lines`
    of the first part) in place of music21's, which repeat every part's and disagree where the parts
    do (a cadenza measure of one part longer than another's)."""
    import mido

    song = mido.MidiFile(str(target))
    scale = song.ticks_per_beat
    delay = round(pickup * scale)
    for number, track in enumerate(song.tracks):
        timed, now = [], 0
        for message in track:
            now += message.time
            if message.type == "time_signature":
                continue
            opening = now == 0 and message.type not in ("note_on", "note_off", "end_of_track")
            timed.append((now if opening else now + delay, 0, message))
        if number == 0:  # the conductor: before notes at the same tick, never after the end of the track
            for offset, numerator, denominator in bars:
                meta = mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)
                timed.append((round(offset * scale) + delay, -1, meta))
        timed.sort(key=lambda t: (t[0], t[1], t[2].type == "end_of_track"))
        track.clear()
        last = 0
        for when, _, message in timed:
            track.append(message.copy(time=when - last))
            last = when
    song.save(str(target))


def export_one(path: Path, target: Path, quartet: bool = False) -> Path:
    """Write one corpus score to `target` as MIDI without grace notes: every part on piano, or with
    `quartet` on the string quartet's instruments in score order; a pickup bar keeps its place in
    the bar (`pad_pickup`)."""
    return write_score(corpus.parse(str(path)), path, target, quartet)


def export_tunes(path: Path, folder: Path, limit: int | None = None) -> list[Path]:
    """Write every score in the corpus file `path` (one, or a collection of tunes in one ABC file;
    with `limit`, its first `limit`) as piano MIDI files in `folder`, named after the file and, in a
    collection, the tune's number."""
    from music21 import converter, stream

    parsed = converter.parse(str(path))
    scores = list(parsed.scores)[:limit] if isinstance(parsed, stream.Opus) else [parsed]
    written = []
    for number, score in enumerate(scores, 1):
        name = path.stem if len(scores) == 1 else f"{path.stem}-{number:04d}"
        try:
            written.append(write_score(score, path, folder / f"{name}.mid"))
        except Exception as error:  # a malformed tune of a large collection is left out, with its reason
            print(f"{path} tune {number}: left out ({type(error).__name__}: {error})".splitlines()[0], file=sys.stderr)
    return written


def write_score(score, path: Path, target: Path, quartet: bool = False) -> Path:
    """`export_one` of a parsed `score` (read from `path`)."""
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
        score = score.expandRepeats()  # here, not inside the writer: the bars written must be these
    except repeat.ExpanderException:
        # Badly formed repeat marks: play the score once, as written.
        for mark in list(score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatMark))):
            mark.activeSite.remove(mark)
    score.write("midi", fp=target)
    measures = list(score.parts[0].getElementsByClass("Measure")) if score.parts else []
    fix_bars(target, float(measures[0].paddingLeft) if measures else 0.0, bar_lines(measures))
    return target


def export_collections(out: Path, names: list[tuple[str, int | None, int | None]], force: bool, workers: int) -> int:
    """Write the corpus collections `names` ((folder of music21's corpus: "ryansMammoth", ..., files
    at most, tunes at most per file); None: all) as piano MIDI files in one sub-folder of `out`
    each; return how many files they hold."""
    jobs = []
    suffixes = {".mxl", ".xml", ".krn", ".abc", ".musicxml"}
    for name, files, tunes in names:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        sources = sorted(p for p in (CORPUS_ROOT / name).rglob("*") if p.suffix in suffixes)[:files]
        jobs += [(path, folder, tunes) for path in sources if force or not any(folder.glob(f"{path.stem}*.mid"))]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for written in pool.map(export_tunes, *zip(*jobs, strict=True)) if jobs else []:
            print(f"{len(written)} from {written[0].parent if written else '-'}", file=sys.stderr)
    return sum(len(list((out / name).glob("*.mid"))) for name, _, _ in names)


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
    parser.add_argument(
        "--collections",
        nargs="+",
        default=[],
        help="only these folders of music21's corpus (ryansMammoth, monteverdi, ...), one sub-folder each of "
        "--collections-out, instead of midi_songs/ and midi_ensembles/",
    )
    parser.add_argument("--collections-out", type=Path, default=Path("corpus_midi"), help="folder of --collections")
    parser.add_argument(
        "--pretraining",
        action="store_true",
        help="write the base model's pretraining collection (PRETRAINING) to --collections-out/pretrain instead",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes to export with")
    args = parser.parse_args()
    if args.pretraining:
        out = args.collections_out / "pretrain"
        count = export_collections(out, PRETRAINING, args.force, args.workers)
        print(f"{count} MIDI files in {out}/ (kept out for measuring transfer: {', '.join(sorted(KEPT_OUT))})")
        sys.exit(0)
    if args.collections:
        count = export_collections(
            args.collections_out, [(name, None, None) for name in args.collections], args.force, args.workers
        )
        print(f"{count} MIDI files in {args.collections_out}/")
        sys.exit(0)
    print(f"{export(args.out, args.force, args.workers)} MIDI files in {args.out}/")
    print(f"{export(args.ensembles_out, args.force, args.workers, quartets=True)} MIDI files in {args.ensembles_out}/")
