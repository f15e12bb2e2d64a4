"""Turn a folder of MIDI and score files into pieces: parallel parsing with a content-hash cache.

Each file's events are cached as JSON under the cache folder, keyed by the SHA-256 of the file's
bytes and the parser settings, so unchanged files are never parsed twice (renamed or moved files
included), changed files are parsed again and removed files simply drop out. A file that cannot be
used is cached with its reason, so it is reported again without being parsed again. A cache entry
that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .files import reason, write_atomically
from .instruments import PERCUSSION_CHANNEL
from .midi_io import (
    MIDI_SUFFIXES,
    QUARTER_LENGTH_DIVISORS,
    SCORE_SUFFIXES,
    Event,
    Piece,
    UnreadableFile,
    read_piece,
    without_drums,
)

# 2: implausible tempi (0, 60 million bpm) are ignored, not fatal or kept
# 3: every note keeps its instrument; percussion is read as the instrument "drums", not dropped
PARSER_VERSION = 3
PARSER_SETTINGS = {
    "version": PARSER_VERSION,
    "quarter_length_divisors": list(QUARTER_LENGTH_DIVISORS),
    "percussion_channel": PERCUSSION_CHANNEL,
}


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
    digest = hashlib.sha256(json.dumps(PARSER_SETTINGS, sort_keys=True).encode())
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
    return {"events": [list(e) for e in piece.events], "bpm": piece.bpm}


def _read_cache(entry: Path) -> dict | None:
    """The cached record at `entry`, or None if there is none or it is not one this parser writes
    (truncated, foreign JSON, an empty piece): such an entry is parsed again."""
    try:
        record = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("error"), str):
        return record
    events, bpm = record.get("events"), record.get("bpm")
    valid = isinstance(events, list) and bool(events) and (bpm is None or isinstance(bpm, int | float))
    fields = len(Event._fields)
    valid = valid and all(
        isinstance(e, list) and len(e) == fields and all(isinstance(x, str) for x in e) for e in events
    )
    return record if valid else None


def _write_cache(entry: Path, record: dict) -> None:
    """Write `record` atomically; on failure (read-only, disk full) leave nothing and raise `OSError`."""
    write_atomically(entry, lambda temporary: temporary.write_text(json.dumps(record)))


def load_corpus(
    folder: Path | str,
    cache_dir: Path | str | None = ".cache/events",
    workers: int | None = None,
    progress: bool = True,
    drums: bool = False,
) -> Corpus:
    """Read every usable piece under `folder`, using and filling the cache unless `cache_dir` is None.

    Percussion (the instrument ``"drums"``) is left out unless `drums`; the cache holds it either
    way. `workers` parser processes run at once (default: all cores; 1 parses in this process).
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
    cached = 0
    for path in sources:
        try:
            keys[path] = cache_key(path.read_bytes())
        except OSError as error:  # no permission, vanished, a symbolic-link loop: skip it like a bad file
            records[path] = {"error": f"cannot read: {reason(error)}"}
            continue
        if cache_dir is not None:
            record = _read_cache(Path(cache_dir) / keys[path][:2] / f"{keys[path]}.json")
            if record is not None:
                records[path] = record
                cached += 1
    corpus = Corpus(str(folder), cached=cached)
    todo = [path for path in sources if path not in records]
    corpus.parsed = len(todo)
    for path, record in zip(todo, _parse_all(todo, workers, progress), strict=True):
        records[path] = record
        if cache_dir is not None:
            try:
                _write_cache(Path(cache_dir) / keys[path][:2] / f"{keys[path]}.json", record)
            except OSError as error:  # the parse is not lost: it goes on without the cache
                print(f"cache {cache_dir} not written ({reason(error)}): going on without it", file=sys.stderr)
                cache_dir = None
    for path in sources:
        _collect(corpus, str(path.relative_to(folder)), records[path], drums, path)
    if not corpus.pieces:
        raise DataError(f"no usable music in {folder}: all {len(sources)} files were skipped")
    return corpus


def _collect(corpus: Corpus, name: str, record: dict, drums: bool, path: Path) -> None:
    """Add the piece of `record` to `corpus` (its drums left out unless `drums`), or list it as
    skipped with its reason, printed on one line."""
    events = list(map(Event._make, record.get("events", [])))
    if not drums and events:
        events = without_drums(events)
        if not events:
            record = {"error": "only drums, no pitched notes (train with --drums to learn them)"}
    if "error" in record:
        corpus.skipped.append((name, record["error"]))
        print(f"skipped {path}: {record['error']}", file=sys.stderr)
    else:
        corpus.pieces.append(Piece(name, events, record.get("bpm")))


def _start_worker(reports) -> None:
    """Worker initializer: send progress to `reports`, and on Linux ask the kernel to end this
    worker when the process that started it dies, so a killed `train.py` (even by SIGKILL) leaves
    no parser processes behind."""
    global _reports
    _reports = reports
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _move(bar, share: float) -> None:
    """Move `bar` by a share of a file; float sums must not run past the end."""
    bar.update(min(share, bar.total - bar.n))


def _show(reports, bar) -> None:
    """Move `bar` by each share the workers report, until the None that ends the parse."""
    for share in iter(reports.get, None):
        _move(bar, share)


def _parse_all(paths: list[Path], workers: int | None, progress: bool) -> list[dict]:
    """Parse `paths` in `workers` processes, in order, with a progress bar on stderr."""
    from tqdm import tqdm

    if not paths:
        return []
    workers = min(workers or os.cpu_count() or 1, len(paths))
    shown = "{l_bar}{bar}| {n:.1f}/{total_fmt} files [{elapsed}<{remaining}]"  # tracks of a huge file move it
    bar = tqdm(total=len(paths), desc="parsing", bar_format=shown, disable=not progress, file=sys.stderr)
    try:
        if workers == 1:
            return [_parse_file(path, lambda share: _move(bar, share)) for path in paths]
        reports = multiprocessing.Queue()
        drain = threading.Thread(target=_show, args=(reports, bar), daemon=True)
        drain.start()
        # Largest files first, so that no worker is left with a long file at the end.
        largest_first = sorted(paths, key=lambda p: p.stat().st_size, reverse=True)
        try:
            with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(reports,)) as pool:
                futures = {path: pool.submit(_parse_file, path) for path in largest_first}
                return [futures[path].result() for path in paths]
        finally:
            reports.put(None)
            drain.join(timeout=5)
    finally:
        bar.close()
