"""Every path flag of every entry point, naming the wrong kind of path: a file for a folder, a folder
for a file, a missing parent, a path without permission. Each ends in one line naming the flag and
exit status 2, before anything slow starts (no Keras, no parsing). Permissions are tried as an
unprivileged user: root reads and writes whatever they say (`conftest.unprivileged`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, unprivileged

import generate_music
import train
from lstm_music.evaluate import run as evaluate

INPUT, OUTPUT = "input", "output"
# (entry point, its module, flag, what the flag names, input or output)
FLAGS = [
    ("train.py", train, "--data", "folder", INPUT),
    ("train.py", train, "--styles", "file", INPUT),
    ("train.py", train, "--resume", "file", INPUT),
    ("train.py", train, "--weights-dir", "folder", OUTPUT),
    ("generate_music.py", generate_music, "--checkpoint", "either", INPUT),
    ("generate_music.py", generate_music, "--weights-dir", "folder", INPUT),
    ("generate_music.py", generate_music, "--primer", "file", INPUT),
    ("generate_music.py", generate_music, "--soundfont", "file", INPUT),
    ("generate_music.py", generate_music, "--out", "file", OUTPUT),
    ("generate_music.py", generate_music, "--output-dir", "folder", OUTPUT),
    ("evaluate", evaluate, "--checkpoint", "either", INPUT),
    ("evaluate", evaluate, "--weights-dir", "folder", INPUT),
    ("evaluate", evaluate, "--data", "folder", INPUT),
    ("evaluate", evaluate, "--styles", "file", INPUT),
    ("evaluate", evaluate, "--soundfont", "file", INPUT),
    ("evaluate", evaluate, "--json", "file", OUTPUT),
    ("evaluate", evaluate, "--html", "file", OUTPUT),
]
IDS = [f"{script} {flag}" for script, _, flag, _, _ in FLAGS]


def wrong_paths(root: Path, kind: str, direction: str) -> list[tuple[Path, str]]:
    """Paths of the wrong kind for a flag naming a `kind`, with the reason each must give."""
    a_file = root / "a_file.txt"
    a_file.write_text("not a folder")
    a_folder = root / "a_folder"
    a_folder.mkdir(exist_ok=True)
    cases = []
    if kind == "folder":
        cases.append((a_file, "is a file, not a folder"))
    if kind == "file":
        cases.append((a_folder, "is a folder, not a file"))
    if direction == INPUT:
        cases.append((root / "missing" / "x.mid", f"does not exist ({root / 'missing'} does not exist)"))
    else:
        cases.append((a_file / "x.out", f"{a_file} is a file, not a folder"))
    return cases


def other_flags(script: str, flag: str, root: Path) -> list[str]:
    """The flags that let the run reach its path checks: the others name usable paths."""
    usable = {
        "--data": str(ROOT / "midi_songs"),
        "--weights-dir": str(root / "weights"),
        "--checkpoint": str(root / "weights"),
    }
    if script == "train.py" or flag == "--weights-dir":  # a --checkpoint makes --weights-dir unused
        usable.pop("--checkpoint")
    if script == "generate_music.py":
        usable.pop("--data")
    return [x for name, value in usable.items() if name != flag for x in (name, value)]


@pytest.mark.parametrize(("script", "module", "flag", "kind", "direction"), FLAGS, ids=IDS)
def test_a_path_of_the_wrong_kind_is_one_line_and_exit_2(script, module, flag, kind, direction, tmp_path, capsys):
    (tmp_path / "weights").mkdir()
    for path, reason in wrong_paths(tmp_path, kind, direction):
        code = module.main([*other_flags(script, flag, tmp_path), flag, str(path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (flag, path)
        assert err == [f"error: {flag} {path}: {reason}"], (flag, err)


def no_permission(root: Path, kind: str, direction: str) -> tuple[Path, str]:
    """A path of the right kind that an unprivileged user may not read (inputs) or write (outputs)."""
    if direction == INPUT:
        path = root / ("locked" if kind == "folder" else "locked.mid")
        path.mkdir() if kind == "folder" else path.write_bytes(b"MThd")
        path.chmod(0)
        return path, "no permission to read it"
    locked = root / "read_only"
    locked.mkdir()
    locked.chmod(0o555)
    if kind == "folder":
        return locked, "no permission to write in it"
    return locked / "out.file", f"no permission to write in {locked}"


@pytest.mark.parametrize(("script", "module", "flag", "kind", "direction"), FLAGS, ids=IDS)
def test_a_path_without_permission_is_one_line_and_exit_2(script, module, flag, kind, direction, shared_tmp):
    (shared_tmp / "weights").mkdir()
    (shared_tmp / "weights").chmod(0o777)
    path, reason = no_permission(shared_tmp, kind, direction)
    entry = ["-m", "lstm_music.evaluate"] if script == "evaluate" else [script]
    command = [sys.executable, *entry, *other_flags(script, flag, shared_tmp), flag, str(path)]
    result = subprocess.run(unprivileged(command), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {flag} {path}: {reason}"]
