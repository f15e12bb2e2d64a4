"""Writing files so that a file under its final name is always complete.

Every output of the toolkit (checkpoints, the event cache, MIDI and MusicXML files, evaluation
reports) is written to a temporary name beside its final one and renamed into place; on any
failure the temporary file is removed and the error goes on to the caller, which turns it into
one line naming the path.
"""

from __future__ import annotations

import contextlib
import os
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
        write(temporary)
        with open(temporary, "rb+") as handle:  # on disk before the rename, so a crash keeps the old file
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):  # nothing to remove where nothing could be written
            temporary.unlink(missing_ok=True)
    return path
