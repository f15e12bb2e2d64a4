"""The slow robustness cases (`make test-robust`, also run by CI): a fuzz of damaged MIDI files,
full disks on a real small filesystem, and SIGKILL at several moments of a training run.

Each ends in one line and exit status 2 (or a skipped file), with no traceback, no temporary file
and no process left behind, and every checkpoint under a final name loads.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from conftest import CHORALES, ROOT, shipped, train_args, write_tracks

from lstm_music.data.corpus import load_corpus
from lstm_music.files import TEMPORARY
from lstm_music.model.checkpoint import BEST, load_checkpoint

pytestmark = pytest.mark.robust


def run(script: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *flags], cwd=ROOT, capture_output=True, text=True, timeout=600)


def run_module(module: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *flags], cwd=ROOT, capture_output=True, text=True, timeout=600)


def temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMPORARY.match(p.name) or p.name.startswith(".tmp")]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The run's error line, checked to be its only line of complaint: no traceback anywhere."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- damaged files ---------------------------------------------------------------------------


def bad_collection(folder: Path, flips: int = 300) -> Path:
    """Bit-flipped copies of shipped files (fixed seed) and hand-made bad files of every kind."""
    folder.mkdir()
    rng = random.Random(0)
    sources = [shipped(name).read_bytes() for name in CHORALES]
    for i in range(flips):
        data = bytearray(sources[i % len(sources)])
        for _ in range(rng.choice((1, 2, 8, 64))):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        (folder / f"flip{i:03d}.mid").write_bytes(bytes(data))
    (folder / "empty.mid").write_bytes(b"")
    (folder / "random.mid").write_bytes(rng.randbytes(5000))
    (folder / "text.mid").write_text("this is not a MIDI file\n" * 40)
    (folder / "truncated.mid").write_bytes(sources[0][: len(sources[0]) // 3])
    write_tracks(folder / "drums.mid", [[(i, 0.5, 36, 9) for i in range(16)]])
    write_tracks(folder / "zero_length.mid", [[(i, 0, 60 + i, 0) for i in range(8)] + [(9, 1, 72, 0)]])
    write_tracks(folder / "many_tracks.mid", [[(t % 16, 1, 40 + t % 40, t % 9)] for t in range(200)])
    for name, tempo in (("tempo0.mid", 0), ("slow.mid", 16_777_215), ("fast.mid", 1)):
        midi = mido.MidiFile(str(shipped(CHORALES[1])))
        midi.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=tempo))
        midi.save(str(folder / name))
    return folder


def test_damaged_files_are_read_or_skipped_with_one_line(tmp_path: Path) -> None:
    folder = bad_collection(tmp_path / "bad")
    files = len(list(folder.iterdir()))
    corpus = load_corpus(folder, tmp_path / "cache", workers=2, progress=False)
    assert len(corpus.pieces) + len(corpus.skipped) == files  # every file accounted for
    assert all("\n" not in reason and reason for _, reason in corpus.skipped)
    used = {p.path for p in corpus.pieces}
    assert {"tempo0.mid", "slow.mid", "fast.mid", "many_tracks.mid", "zero_length.mid"} <= used
    assert {"empty.mid", "random.mid", "text.mid", "drums.mid"} <= {name for name, _ in corpus.skipped}
    for piece in corpus.pieces:
        assert piece.events and all(0 <= p < 128 for e in piece.events for p in e.pitches)
    again = load_corpus(folder, tmp_path / "cache", workers=2, progress=False)  # from the cache: the same
    assert [(p.path, p.events) for p in again.pieces] == [(p.path, p.events) for p in corpus.pieces]
    result = run("train.py", "--data", str(folder), "--parse-only", "--cache-dir", str(tmp_path / "c2"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert temporary_files(tmp_path) == []


# --- full disks --------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str, fill: bool = False):
    """A tmpfs of `size` mounted at `path` (optionally filled to the last byte); skips the test where
    this machine does not let the tests mount one (not root, no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip() or 'mount failed'})")
    try:
        if fill:
            with contextlib.suppress(OSError), open(path / "filler", "wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_weights_folder_stops_training_with_one_line(tiny_data: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        result = run("train.py", *train_args(tiny_data, disk, tmp_path / "cache", "full", "--epochs", "2"))
        line = one_error_line(result)
        assert line.startswith(f"error: cannot write checkpoint {disk / 'full'}") and "No space left on device" in line
        assert temporary_files(disk) == []


def test_a_full_cache_folder_is_left_out_and_the_parse_goes_on(tiny_data: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "16k") as disk:
        result = run("train.py", "--data", str(tiny_data), "--parse-only", "--cache-dir", str(disk), "--workers", "1")
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert f"cache {disk} not written (No space left on device): going on without it" in result.stderr
        assert f"{len(CHORALES)} files used" in result.stdout
        assert temporary_files(disk) == []


def test_full_disks_under_every_output_give_one_line_and_leave_nothing(tiny_run: Path, tiny_data: Path, tmp_path):
    with small_disk(tmp_path / "full", "64k", fill=True) as disk:
        generated = run("generate_music.py", "--checkpoint", str(tiny_run), "--out", str(disk / "x.mid"))
        assert one_error_line(generated) == f"error: cannot write {disk / 'x.mid'}: No space left on device"
        flags = ["--checkpoint", str(tiny_run), "--data", str(tiny_data), "--cache-dir", str(tmp_path / "cache")]
        for output in ("--json", "--html"):
            target = disk / f"report{output.replace('--', '.')}"
            scored = run_module("lstm_music.evaluate", *flags, output, str(target))
            assert one_error_line(scored) == f"error: {output} {target}: cannot write it: No space left on device"
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    with small_disk(tmp_path / "small", "256k") as disk:  # room for the MIDI file, not for its audio
        out = disk / "kept.mid"
        result = run("generate_music.py", "--checkpoint", str(tiny_run), "--out", str(out), "--length", "60", "--wav")
        assert one_error_line(result) == f"error: cannot write {out.with_suffix('.wav')}: No space left on device"
        assert mido.MidiFile(str(out)).length > 0
        assert sorted(p.name for p in disk.iterdir()) == ["kept.mid"]


# --- SIGKILL -------------------------------------------------------------------------------------


def run_processes(pid: int) -> list:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).children(recursive=True)
    return []


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.05)


@pytest.mark.parametrize("moment", ["parsing", "mid-epoch", "after-checkpoint"])
def test_sigkill_at_any_moment_leaves_loadable_checkpoints_and_no_process(moment: str, tmp_path: Path) -> None:
    import psutil

    data = tmp_path / "data"
    data.mkdir()
    for name in CHORALES * 4:  # enough files for the parse to take a moment, copied under new names
        (data / f"{len(list(data.iterdir()))}-{name}").write_bytes(shipped(name).read_bytes())
    weights, cache = tmp_path / "weights", tmp_path / "cache"
    flags = [*train_args(data, weights, cache, "killed", "--epochs", "200"), "--workers", "2"]
    if moment == "parsing":
        flags += ["--no-cache"]
    if moment == "after-checkpoint":
        flags += ["--keep-all"]  # every improvement its own file: killed just after one was written
    process = subprocess.Popen([sys.executable, "train.py", *flags], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        if moment == "parsing":
            wait_for(lambda: len(run_processes(process.pid)) >= 2)
        elif moment == "mid-epoch":
            wait_for(lambda: (weights / "killed" / BEST).exists())
            time.sleep(0.7)  # into a later epoch
        else:
            best = weights / "killed" / BEST
            wait_for(lambda: best.exists() and len(list(best.parent.glob("epoch*.weights.h5"))) >= 2)
        children = run_processes(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"processes of the killed run left running: {[p.pid for p in alive]}"
    finally:
        if process.poll() is None:
            process.kill()
    run_dir = weights / "killed"
    finals = sorted(run_dir.glob("*.weights.h5")) if run_dir.exists() else []
    for path in finals:  # every checkpoint under a final name is whole
        load_checkpoint(path)
    short = [*train_args(data, weights, cache, "killed", "--epochs", "1"), "--workers", "2"]
    again = run("train.py", *short)  # the same --run-name: refused if the killed run left a checkpoint
    if finals:
        line = one_error_line(again)
        assert "already holds a trained run" in line or "checkpoints of an unfinished run" in line, line
    else:  # what a run killed before its first checkpoint left blocks nothing
        assert again.returncode == 0, again.stderr
    if (run_dir / BEST).exists():
        resumed = run("train.py", *train_args(data, weights, cache, "resumed", "--epochs", "1"),
                      "--resume", str(run_dir / BEST))  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        load_checkpoint(weights / "resumed" / BEST)
    assert temporary_files(weights) == []  # the next run removed what the killed one left half-written


# --- Ctrl-C and two trainings at once --------------------------------------------------------------


def interrupt(command: list[str], when) -> subprocess.CompletedProcess:
    """Run `command` and press Ctrl-C (SIGINT to its whole process group, as a terminal does) once
    `when(process)` says so."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        when(process)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def interrupted_with_one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    bar = re.compile(r"^\w+: +\d+%\|")  # a progress bar's line (text mode reads its \r as a new line)
    lines = [line for line in result.stderr.splitlines() if line.strip() and not bar.match(line)]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), result.stderr
    return lines[0]


def test_ctrl_c_while_starting_or_generating_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    generate = [sys.executable, "generate_music.py", "--checkpoint", str(tiny_run), "--output-dir", str(tmp_path)]
    starting = interrupt([*generate, "--length", "50"], lambda process: time.sleep(1.5))  # Keras still loading
    assert interrupted_with_one_line(starting) == "interrupted"
    generating = interrupt([*generate, "--count", "50", "--length", "40000"], lambda process: time.sleep(12))
    assert interrupted_with_one_line(generating) == "interrupted"
    assert temporary_files(tmp_path) == []


def test_ctrl_c_in_the_first_epoch_keeps_nothing_and_blocks_nothing(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    flags = ["--data", str(ROOT / "midi_songs"), "--weights-dir", str(weights), "--run-name", "early",
             "--cache-dir", str(tmp_path / "cache"), "--preset", "small", "--progress", "2"]  # fmt: skip

    def first_epoch(process) -> None:
        for line in process.stdout:
            if line.startswith("Epoch 1/"):
                time.sleep(2)
                return
        raise AssertionError("training never began")

    result = interrupt([sys.executable, "-u", "train.py", *flags], first_epoch)
    assert interrupted_with_one_line(result) == "interrupted: before the first checkpoint: nothing was kept"
    assert list(weights.iterdir()) == []  # no folder left to block the name
    again = run("train.py", *train_args(ROOT / "midi_songs", weights, tmp_path / "cache", "early", "--epochs", "1"))
    assert again.returncode == 0, again.stderr
    load_checkpoint(weights / "early" / BEST)


def test_two_trainings_with_one_run_name_never_mix_their_checkpoints(tiny_data: Path, tmp_path: Path) -> None:
    flags = train_args(tiny_data, tmp_path / "weights", tmp_path / "cache", "same", "--epochs", "3")
    run("train.py", "--parse-only", *flags[:-2])  # a warm cache, so that both reach the run folder together
    both = [subprocess.Popen([sys.executable, "train.py", *flags], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    results = [(p.wait(300), *p.communicate()) for p in both]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    [(_, _, err)] = [r for r in results if r[0] == 2]
    assert one_error_line(subprocess.CompletedProcess([], 2, "", err)).endswith(
        "is being trained by another process now: choose another --run-name"
    )
    [(_, out, _)] = [r for r in results if r[0] == 0]
    history = (tmp_path / "weights" / "same" / "history.csv").read_text()
    rows = list(csv.DictReader(history.splitlines()))
    assert history.count("epoch") == 1 and [row["epoch"] for row in rows] == ["0", "1", "2"]  # one run's
    best = float(out.split("(val_loss ")[1].split(",")[0])
    assert min(float(row["val_loss"]) for row in rows) == pytest.approx(best, abs=1e-4)
    load_checkpoint(tmp_path / "weights" / "same" / BEST)


def test_the_ensembles_still_learn_their_four_parts(tmp_path: Path) -> None:
    result = run("train.py", "--data", str(ROOT / "midi_ensembles"), "--parse-only", "--cache-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    # two violins (one program), viola and cello: three instruments, each over 20% of the notes
    assert "instruments (3, 3 learned as a fourth stream): Violin 54%, Viola 25%, Cello 21%" in result.stdout
