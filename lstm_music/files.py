"""Writing files so that a file under its final name is always complete.

Every output of the toolkit (checkpoints, the event cache, MIDI and MusicXML files, evaluation
reports) is written to a temporary name beside its final one and renamed into place; on any
failure the temporary file is removed and the error goes on to the caller, which turns it into
one line naming the path. Temporary files of processes that were killed before they could remove
theirs are removed by the next write into the same folder (`remove_stale`), and their scratch
folders by the next process that makes one (`scratch_prefix`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> Path:
    """Call `write(temporary)` and rename the temporary file to `path`; return `path`.

    The temporary file is hidden and named after `path` and this process, ending in `suffix`
    (some writers want their own extension, Keras `.weights.h5` for one). Raises `OSError` if
    `path` is a folder or cannot be written, and then leaves no temporary file behind.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder", str(path))
    temporary = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent)
        write(temporary)
        with open(temporary, "rb+") as handle:  # on disk before the rename, so a crash keeps the old file
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):  # nothing to remove where nothing could be written
            temporary.unlink(missing_ok=True)
    return path


TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp(\..+)?$")  # what write_atomically names its temporary files


def remove_stale(folder: Path) -> None:
    """Remove the temporary files in `folder` that a killed process (SIGKILL, power loss) left
    behind: those named by `write_atomically` whose process no longer runs."""
    for entry in os.scandir(folder):
        found = TEMPORARY.match(entry.name)
        if found and not _running(int(found.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def scratch_prefix(name: str) -> str:
    """The prefix for a scratch folder of this process in the system's temporary folder
    (`tempfile.mkdtemp(prefix=...)`): `name`, then this process's id. The scratch folders of that
    `name` that killed processes left behind are removed first."""
    root = tempfile.gettempdir()
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            found = pattern.match(entry.name)
            if found and entry.is_dir(follow_symlinks=False) and not _running(int(found.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)
    return f"{name}-{os.getpid()}-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def reason(error: OSError) -> str:
    """The one-line reason of an I/O error: the system's words ("No space left on device"), which
    h5py buries in a multi-line HDF5 message, else the message's first line."""
    found = re.search(r"error message = '([^']+)'", str(error))
    if found:
        return found.group(1)
    return (str(error.strerror or error).strip().splitlines() or [type(error).__name__])[0]


def forget(error: BaseException) -> None:
    """Drop what the frames of `error`'s traceback hold (an HDF5 file a failed save left open)
    now, so that closing it on a full disk does not print h5py's "Exception ignored" tracebacks."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        traceback.clear_frames(error.__traceback__)
        gc.collect()
    finally:
        sys.unraisablehook = hook
