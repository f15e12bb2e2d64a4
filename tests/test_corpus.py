"""Folder parsing: bad files skipped with reasons, exit status 2, and the event cache."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import KNOWN_EVENTS, ROOT, tokens_of, unprivileged, write_tracks

from lstm_music.data import corpus as corpus_module
from lstm_music.data.corpus import DataError, load_corpus
from lstm_music.data.notes import Notes


def bad_folder(folder: Path) -> Path:
    folder.mkdir()
    (folder / "empty.mid").write_bytes(b"")
    (folder / "notes.mid").write_text("a text file that claims to be MIDI\n")
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    write_tracks(folder / "drums.mid", [[(b, 0.5, 38, 9) for b in range(8)]])
    return folder


def test_bad_files_are_skipped_with_one_line_each(tmp_path: Path, known_midi: Path, capsys) -> None:
    folder = bad_folder(tmp_path / "data")
    nested = folder / "nested"
    nested.mkdir()
    shutil.copy(known_midi, nested / "good.MIDI")
    corpus = load_corpus(folder, cache_dir=None, workers=1, progress=False)
    assert [p.path for p in corpus.pieces] == ["nested/good.MIDI"]
    assert tokens_of(corpus.pieces[0].events) == KNOWN_EVENTS
    reasons = dict(corpus.skipped)
    assert reasons["empty.mid"] == "empty file"
    assert reasons["notes.mid"].startswith("not a MIDI file")
    assert reasons["corrupt.mid"].startswith("cannot read MIDI")
    assert reasons["drums.mid"] == "only drums, no pitched notes (train with --drums to learn them)"
    lines = capsys.readouterr().err.strip().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(f"skipped {folder / n}" for n in reasons)
    assert "1 files used, 4 skipped, 8 events" in corpus.summary()


def test_folder_of_bad_files_exits_2(tmp_path: Path) -> None:
    folder = bad_folder(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "train.py", "--data", str(folder), "--parse-only", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert f"error: no usable music in {folder}: all 4 files were skipped" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_folder_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "train.py", "--data", str(tmp_path / "nope"), "--parse-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --data {tmp_path / 'nope'}: does not exist"
    with pytest.raises(DataError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_parse_only_prints_summary_without_keras(tmp_path: Path, known_midi: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        shutil.copy(known_midi, folder / f"piece{i}.mid")
    probe = (
        "import sys, runpy; sys.argv = ['train.py', '--data', sys.argv[1], '--parse-only', '--cache-dir', sys.argv[2]];"
        "code = 0\ntry: runpy.run_path('train.py', run_name='__main__')\nexcept SystemExit as e: code = e.code\n"
        "print('keras' in sys.modules, 'tensorflow' in sys.modules, code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(folder), str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False False 0"
    assert "3 files used, 0 skipped, 24 events" in result.stdout
    assert "vocabulary sizes: note" in result.stdout


def test_cache_is_read_and_refreshed(tmp_path: Path, known_midi: Path, monkeypatch) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(known_midi, folder / "a.mid")
    shutil.copy(known_midi, folder / "b.mid")
    cache = tmp_path / "cache"
    first = load_corpus(folder, cache, workers=1, progress=False)
    assert (first.parsed, first.cached) == (2, 0)

    def no_parsing(path):
        raise AssertionError(f"{path} was parsed although it is cached")

    with monkeypatch.context() as patch:
        patch.setattr(corpus_module, "read_piece", no_parsing)
        second = load_corpus(folder, cache, workers=1, progress=False)
    assert (second.parsed, second.cached) == (0, 2)
    assert [p.events for p in second.pieces] == [p.events for p in first.pieces]

    write_tracks(folder / "b.mid", [[(0, 1, 72, 0)]])
    changed = load_corpus(folder, cache, workers=1, progress=False)
    assert (changed.parsed, changed.cached) == (1, 1)
    assert tokens_of(changed.pieces[1].events) == [("C5", "0", "1", "0")]

    entries = sorted(cache.rglob("*.npz"))
    assert len(entries) == 2
    for entry in entries:
        entry.write_text("{ not an npz file")
    rebuilt = load_corpus(folder, cache, workers=1, progress=False)
    assert (rebuilt.parsed, rebuilt.cached) == (2, 0)
    assert all(set(np.load(e).files) == {"notes", "meta", "meters"} for e in entries)

    (folder / "a.mid").unlink()
    assert [p.path for p in load_corpus(folder, cache, workers=1, progress=False).pieces] == ["b.mid"]


def test_parallel_parse_matches_single_process(tmp_path: Path) -> None:
    songs = sorted((ROOT / "midi_songs").rglob("*.mid"))[:4]
    folder = tmp_path / "data"
    folder.mkdir()
    for song in songs:
        shutil.copy(song, folder / song.name)
    one = load_corpus(folder, None, workers=1, progress=False)
    two = load_corpus(folder, None, workers=2, progress=False)
    assert [p.events for p in one.pieces] == [p.events for p in two.pieces]
    assert len(one.pieces) == 4


def test_cache_entries_of_the_wrong_shape_are_parsed_again(tmp_path: Path, known_midi: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(known_midi, folder / "a.mid")
    cache = tmp_path / "cache"
    first = load_corpus(folder, cache, workers=1, progress=False)
    [entry] = cache.rglob("*.npz")
    meta = np.array([12.0, 90.0])
    foreign = {
        "no notes": {"notes": np.zeros((0, 4), dtype=np.int64), "meta": meta},
        "three columns": {"notes": np.ones((3, 3), dtype=np.int64), "meta": meta},
        "floats": {"notes": np.ones((3, 4)), "meta": meta},
        "pitch 200": {"notes": np.array([[0, 12, 200, 0]]), "meta": meta},
        "no length": {"notes": np.array([[0, 0, 60, 0]]), "meta": meta},
        "no meta": {"notes": np.array([[0, 12, 60, 0]])},
        "a pickle": {"notes": np.array([{"C4": 1}], dtype=object), "meta": meta},
    }
    for name, arrays in foreign.items():
        with open(entry, "wb") as handle:
            np.savez(handle, **arrays)
        again = load_corpus(folder, cache, workers=1, progress=False)
        assert (again.parsed, again.cached) == (1, 0), name
        assert [p.events for p in again.pieces] == [p.events for p in first.pieces]


def test_an_unwritable_cache_loses_no_parse_and_leaves_no_temporary_file(tmp_path: Path, known_midi: Path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(known_midi, folder / "a.mid")
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    corpus = load_corpus(folder, blocked, workers=1, progress=False)
    assert len(corpus.pieces) == 1 and corpus.pieces[0].events
    assert f"cache {blocked} not written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cache", "data", known_midi.name])


def test_a_file_given_as_data_folder_says_so(known_midi: Path) -> None:
    with pytest.raises(DataError, match="is a file: give the folder that holds it"):
        load_corpus(known_midi)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_killing_train_while_it_parses_leaves_no_parser_processes(tmp_path: Path) -> None:
    import signal
    import time

    import psutil

    command = [sys.executable, "train.py", "--data", str(ROOT / "midi_songs"), "--parse-only", "--no-cache"]
    run = subprocess.Popen([*command, "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers = []
        while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
            workers = psutil.Process(run.pid).children()
            time.sleep(0.2)
        assert len(workers) >= 2, "the parse never started its workers"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"parser processes left running: {[p.pid for p in alive]}"
    finally:
        if run.poll() is None:
            run.kill()


def test_an_unreadable_file_is_skipped_not_fatal(shared_tmp: Path, known_midi: Path) -> None:
    folder = shared_tmp / "data"
    folder.mkdir()
    shutil.copy(known_midi, folder / "a.mid")
    shutil.copy(known_midi, folder / "b.mid")
    (folder / "b.mid").chmod(0)
    read = (
        "import json, sys; from lstm_music.data.corpus import load_corpus; "
        "c = load_corpus(sys.argv[1], sys.argv[2], workers=1, progress=False); "
        "print(json.dumps([[p.path for p in c.pieces], c.skipped]))"
    )
    command = [sys.executable, "-c", read, str(folder), str(shared_tmp / "cache")]  # as a user whom b.mid refuses
    result = subprocess.run(unprivileged(command), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["a.mid"], [["b.mid", "cannot read: Permission denied"]]]
    assert result.stderr.strip() == f"skipped {folder / 'b.mid'}: cannot read: Permission denied"


def test_a_checkpoint_parsed_with_other_parser_settings_is_noted() -> None:
    from lstm_music.data.corpus import PARSER_SETTINGS, parser_difference

    assert parser_difference(PARSER_SETTINGS) is None and parser_difference(None) is None
    older = {**PARSER_SETTINGS, "version": 1}
    note = parser_difference(older)
    assert note.startswith("note: the checkpoint's pieces were parsed with other parser settings")
    assert f"version 1 -> {PARSER_SETTINGS['version']}" in note and "\n" not in note


def test_a_file_reports_its_progress_track_by_track(known_midi: Path) -> None:
    from lstm_music.data.corpus import _parse_file
    from lstm_music.data.midi_io import read_midi

    shares: list[float] = []
    read_midi(known_midi, shares.append)
    assert shares == [1 / 4, 2 / 4, 3 / 4, 1.0]  # the conductor track and three note tracks
    deltas: list[float] = []
    record = _parse_file(known_midi, deltas.append)  # what a parser worker sends to the bar: steps summing to 1
    assert len(record["notes"]) and len(deltas) == 5 and sum(deltas) == pytest.approx(1.0)
    deltas.clear()
    assert "error" in _parse_file(known_midi.with_name("missing.mid"), deltas.append)
    assert sum(deltas) == pytest.approx(1.0)  # a skipped file still counts as one


def test_a_corpus_read_for_training_keeps_counts_and_reads_events_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for song in sorted((ROOT / "midi_songs").rglob("*.mid"))[:3]:
        shutil.copy(song, folder / song.name)
    cache = tmp_path / "cache"
    held = load_corpus(folder, cache, workers=1, progress=False)
    stored = load_corpus(folder, cache, workers=1, progress=False, in_memory=False)
    fresh = load_corpus(folder, tmp_path / "fresh", workers=2, progress=False, in_memory=False)  # parsed, not cached
    for lean in (stored, fresh):
        assert all(not isinstance(p.events.source, Notes) for p in lean.pieces)  # a count and a reader, not the notes
        assert [len(p.events) for p in lean.pieces] == [len(p.events) for p in held.pieces]
        assert [list(p.events) for p in lean.pieces] == [p.events for p in held.pieces]
        assert lean.pieces[0].events[5:9] == held.pieces[0].events[5:9]
    assert stored.events == held.events > 300
    assert isinstance(load_corpus(folder, None, progress=False, in_memory=False).pieces[0].events.source, Notes)
    entry = corpus_module._entry(cache, corpus_module.cache_key((folder / stored.pieces[1].path).read_bytes()))
    entry.unlink()  # the cache removed under a running training
    with pytest.raises(DataError, match=f"^cache entry {entry} was removed or changed during the run: run again$"):
        list(stored.pieces[1].events)
