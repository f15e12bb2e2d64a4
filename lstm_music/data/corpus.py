"""Turn a folder of MIDI and score files into pieces: parallel parsing with a content-hash cache.

Each file's notes are cached as numbers (`notes.Notes`, one `.npz` file) under the cache folder,
keyed by the SHA-256 of the file's bytes, the parser settings and the cache format, so unchanged
files are never parsed twice (renamed or moved files included), changed files are parsed again and
removed files simply drop out. A file that cannot be used is cached with its reason, so it is
reported again without being parsed again. A cache entry that cannot be read is ignored and rebuilt.
A piece's events are `notes.NoteEvents`: made as `Event`s only when read, while training works on
the numbers, so a warm start costs little more than reading the cache.

Training reads a corpus with ``in_memory=False``: each piece then keeps only its event count and
reads its notes from its cache entry whenever they are used, so a collection larger than memory can
be read piece by piece.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..files import reason, write_atomically
from .events import Piece
from .instruments import PERCUSSION_CHANNEL
from .meter import Meter
from .midi_io import MIDI_SUFFIXES, QUARTER_LENGTH_DIVISORS, SCORE_SUFFIXES, UnreadableFile, read_piece
from .notes import NoteEvents, Notes

# 2: implausible tempi (0, 60 million bpm) are ignored, not fatal or kept
# 3: every note keeps its instrument; percussion is read as the instrument "drums", not dropped
# 4: time signatures are read (`meter`), their bar lines quantized as the notes are
PARSER_VERSION = 4
PARSER_SETTINGS = {
    "version": PARSER_VERSION,
    "quarter_length_divisors": list(QUARTER_LENGTH_DIVISORS),
    "percussion_channel": PERCUSSION_CHANNEL,
}
CACHE_FORMAT = 3  # 3: with time signatures and how much lies on the grid; 2: notes as numbers; 1: JSON


def parser_difference(recorded: dict | None) -> str | None:
    """One line saying how the parser settings a checkpoint recorded differ from this version's, or
    None when they agree (or none were recorded): its pieces were read otherwise than pieces are now."""
    if not recorded or recorded == PARSER_SETTINGS:
        return None
    changed = ", ".join(
        f"{key} {recorded.get(key)} -> {PARSER_SETTINGS.get(key)}"
        for key in sorted(set(recorded) | set(PARSER_SETTINGS))
        if recorded.get(key) != PARSER_SETTINGS.get(key)
    )
    return f"note: the checkpoint's pieces were parsed with other parser settings ({changed}); now read with today's"


class DataError(Exception):
    """The data cannot be used at all (missing folder, nothing usable); the run must stop."""


@dataclass
class Corpus:
    """The pieces read from a folder, the files skipped with their reasons, and where they came from."""

    folder: str
    pieces: list[Piece] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    parsed: int = 0
    cached: int = 0

    @property
    def events(self) -> int:
        """Total number of events over all pieces."""
        return sum(len(piece.events) for piece in self.pieces)

    def summary(self) -> str:
        """One line: files used and skipped, events, and where they came from."""
        return (
            f"{self.folder}: {len(self.pieces)} files used, {len(self.skipped)} skipped, "
            f"{self.events} events ({self.parsed} parsed, {self.cached} from cache)"
        )


def find_sources(folder: Path) -> list[Path]:
    """Every MIDI or score file under `folder`, recursively, in sorted order."""
    suffixes = set(MIDI_SUFFIXES + SCORE_SUFFIXES)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def cache_key(data: bytes) -> str:
    """The cache key of a file's bytes under the current parser settings."""
    digest = hashlib.sha256(json.dumps({**PARSER_SETTINGS, "cache": CACHE_FORMAT}, sort_keys=True).encode())
    digest.update(data)
    return digest.hexdigest()


_reports = None  # in a parser worker: the queue that carries its progress to the parent's bar


def _parse_file(path: Path, progress: Callable[[float], None] | None = None) -> dict:
    """Parse one file into a JSON-ready record: its events and tempo, or the reason it is skipped.
    `progress` (in a worker: the parent's queue) gets the file's share as it grows, summing to 1."""
    progress = progress or (_reports.put if _reports is not None else None)
    done = 0.0

    def advance(share: float) -> None:
        nonlocal done
        progress(share - done)
        done = share

    try:
        piece = read_piece(path, advance if progress else None)
    except UnreadableFile as error:
        return {"error": str(error)}
    except Exception as error:  # a bug in a parser must skip the file, not end the whole run
        return {"error": f"cannot parse: {type(error).__name__}: {error}".splitlines()[0]}
    finally:
        if progress:
            advance(1.0)
    return {"notes": Notes.from_events(piece.events), "bpm": piece.bpm, "meters": piece.meters, "grid": piece.grid}


def _read_cache(entry: Path) -> dict | None:
    """The cached record at `entry`, or None if there is none or it is not one this parser writes
    (truncated, foreign, an empty piece): such an entry is parsed again."""
    try:
        with np.load(entry) as arrays:
            if "error" in arrays.files:
                return {"error": str(arrays["error"])}
            resolution, bpm, grid = arrays["meta"].tolist()  # ticks per quarter, tempo (NaN: none), `Piece.grid`
            notes = Notes.from_table(arrays["notes"], int(resolution))
            meters = tuple(Meter(Fraction(a, b), n, d) for a, b, n, d in arrays["meters"].tolist())
            return {"notes": notes, "bpm": None if math.isnan(bpm) else bpm, "meters": meters, "grid": grid}
    except (OSError, ValueError, KeyError, TypeError, EOFError, ZeroDivisionError, zipfile.BadZipFile):
        return None


def _write_cache(entry: Path, record: dict) -> None:
    """Write `record` atomically; on failure (read-only, disk full) leave nothing and raise `OSError`."""
    if "error" in record:
        arrays = {"error": np.array(record["error"])}
    else:
        notes, bpm = record["notes"], math.nan if record["bpm"] is None else record["bpm"]
        meters = [(m.start.numerator, m.start.denominator, m.numerator, m.denominator) for m in record["meters"]]
        arrays = {
            "notes": notes.table(),
            "meta": np.array([notes.resolution, bpm, record["grid"]], dtype=np.float64),
            "meters": np.array(meters, dtype=np.int64).reshape(-1, 4),  # bar line (a fraction), signature
        }

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:  # a handle: np.savez would add ".npz" to a name
            np.savez(handle, **arrays)

    write_atomically(entry, write)


def _stored_notes(entry: Path, drums: bool) -> Notes:
    """The notes of cache `entry` (drums left out unless `drums`), read while a training uses them;
    `DataError` if the entry changed under the run."""
    record = _read_cache(entry)
    if record is None or "notes" not in record:
        raise DataError(f"cache entry {entry} was removed or changed during the run: run again")
    return record["notes"] if drums else record["notes"].without_drums()


def load_corpus(
    folder: Path | str,
    cache_dir: Path | str | None = ".cache/events",
    workers: int | None = None,
    progress: bool = True,
    drums: bool = False,
    in_memory: bool = True,
) -> Corpus:
    """Read every usable piece under `folder`, using and filling the cache unless `cache_dir` is None.

    Percussion (the instrument ``"drums"``) is left out unless `drums`; the cache holds it either
    way. `workers` parser processes run at once (default: all cores; 1 parses in this process).
    Without `in_memory`, a piece whose cache entry exists reads its notes from there when used.
    Skipped files are printed to stderr, one line each. Raises `DataError` if the folder does not
    exist or holds nothing usable.
    """
    folder = Path(folder)
    if folder.is_file():
        raise DataError(f"data folder {folder} is a file: give the folder that holds it")
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    sources = find_sources(folder)
    if not sources:
        raise DataError(f"no MIDI or score files in {folder} (looked for {', '.join(MIDI_SUFFIXES + SCORE_SUFFIXES)})")
    records: dict[Path, dict] = {}
    keys: dict[Path, str] = {}
    corpus = Corpus(str(folder))
    for path in sources:
        try:
            keys[path] = cache_key(path.read_bytes())
        except OSError as error:  # no permission, vanished, a symbolic-link loop: skip it like a bad file
            records[path] = {"error": f"cannot read: {reason(error)}"}
            continue
        if cache_dir is not None:
            entry = _entry(cache_dir, keys[path])
            record = _read_cache(entry)
            if record is not None:
                records[path] = _kept(record, drums, None if in_memory else entry)
                corpus.cached += 1
    todo = [path for path in sources if path not in records]
    corpus.parsed = len(todo)
    for path, record in _parse_all(todo, workers, progress):
        entry = None
        if cache_dir is not None:
            entry = _entry(cache_dir, keys[path])
            try:
                _write_cache(entry, record)
            except OSError as error:  # the parse is not lost: it goes on without the cache, in memory
                print(f"cache {cache_dir} not written ({reason(error)}): going on without it", file=sys.stderr)
                cache_dir = entry = None
        records[path] = _kept(record, drums, None if in_memory else entry)
    for path in sources:
        _collect(corpus, str(path.relative_to(folder)), records[path], path)
    if not corpus.pieces:
        raise DataError(f"no usable music in {folder}: all {len(sources)} files were skipped")
    return corpus


def _entry(cache_dir: Path | str, key: str) -> Path:
    """Where the cache keeps the record of the file whose key is `key`."""
    return Path(cache_dir) / key[:2] / f"{key}.npz"


def _kept(record: dict, drums: bool, entry: Path | None) -> dict:
    """What the corpus keeps of a file's `record`: its events (drums left out unless `drums`) as
    `NoteEvents`, which hold the notes or, given its cache `entry`, read them from there; or the
    reason it is skipped."""
    if "error" in record:
        return record
    notes = record["notes"] if drums else record["notes"].without_drums()
    if not len(notes):
        return {"error": "only drums, no pitched notes (train with --drums to learn them)"}
    source = notes if entry is None else lambda: _stored_notes(entry, drums)
    events = NoteEvents(source, chords=True, size=notes.chord_count())
    return {"events": events, "bpm": record.get("bpm"), "meters": record["meters"], "grid": record["grid"]}


def _collect(corpus: Corpus, name: str, record: dict, path: Path) -> None:
    """Add the piece of `record` (as `_kept` leaves it) to `corpus`, or list it as skipped with its
    reason, printed on one line."""
    if "error" in record:
        corpus.skipped.append((name, record["error"]))
        print(f"skipped {path}: {record['error']}", file=sys.stderr)
    else:
        corpus.pieces.append(Piece(name, record["events"], record["bpm"], meters=record["meters"], grid=record["grid"]))


def _start_worker(reports) -> None:
    """Worker initializer: send progress to `reports`; leave Ctrl-C to the parent (which ends the
    workers), so that it prints one line, not a traceback per worker; and on Linux ask the kernel to
    end this worker when the process that started it dies, so a killed `train.py` (even by SIGKILL)
    leaves no parser processes behind."""
    import signal

    global _reports
    _reports = reports
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _move(bar, share: float) -> None:
    """Move `bar` by a share of a file; float sums must not run past the end."""
    bar.update(min(share, bar.total - bar.n))


def _show(reports, bar) -> None:
    """Move `bar` by each share the workers report, until the None that ends the parse."""
    for share in iter(reports.get, None):
        _move(bar, share)


def _parse_all(paths: list[Path], workers: int | None, progress: bool) -> Iterator[tuple[Path, dict]]:
    """Parse `paths` in `workers` processes, with a progress bar on stderr; yield each path with its
    record as soon as it is parsed, so that the caller need not hold them all."""
    if not paths:
        return
    from tqdm import tqdm

    workers = min(workers or os.cpu_count() or 1, len(paths))
    shown = "{l_bar}{bar}| {n:.1f}/{total_fmt} files [{elapsed}<{remaining}]"  # tracks of a huge file move it
    bar = tqdm(total=len(paths), desc="parsing", bar_format=shown, disable=not progress, file=sys.stderr)
    try:
        if workers == 1:
            for path in paths:
                yield path, _parse_file(path, lambda share: _move(bar, share))
            return
        reports = multiprocessing.Queue()
        drain = threading.Thread(target=_show, args=(reports, bar), daemon=True)
        drain.start()
        # Largest files first, so that no worker is left with a long file at the end.
        largest_first = sorted(paths, key=lambda p: p.stat().st_size, reverse=True)
        try:
            with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(reports,)) as pool:
                futures = {pool.submit(_parse_file, path): path for path in largest_first}
                try:
                    for future in as_completed(futures):
                        yield futures.pop(future), future.result()
                except BaseException:  # Ctrl-C or an error: the workers stop now, not after every file
                    for process in list(getattr(pool, "_processes", {}).values()):  # no public way before 3.14
                        process.terminate()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        finally:
            reports.put(None)
            drain.join(timeout=5)
    finally:
        bar.close()
