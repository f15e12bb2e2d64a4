"""Loading Keras and its backend once, without the C++ libraries' start-up notices.

TensorFlow 2.21 prints about seven lines (oneDNN, CUDA probing, `cuInit`) while it loads, some of
them logged before absl::InitializeLog, where no `TF_CPP_MIN_LOG_LEVEL` reaches them
(abseil-cpp#1957). `import_keras` hides exactly those lines, in glog's format, and passes
everything else on. A user who sets `TF_CPP_MIN_LOG_LEVEL` or passes `--verbose` sees them all.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

_USER_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")  # read before anything of ours sets it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # after start-up, warnings and errors only
NATIVE_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] )"
)
_quiet = _USER_LEVEL is None


def set_verbose(verbose: bool) -> None:
    """With `verbose`, show every C++ log line from here on (level 0 unless the user set one)."""
    global _quiet
    if verbose:
        _quiet = False
        if _USER_LEVEL is None:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


@contextlib.contextmanager
def _native_logs_hidden() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the duration, then write back to stderr every
    line of it that is not a C++ log line (Python warnings and errors still show, in order)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            sys.stderr.write("".join(line for line in text.splitlines(True) if not NATIVE_LOG.match(line)))
            sys.stderr.flush()


def import_keras() -> keras:
    """Import Keras and open its backend's devices (the first time, quietly unless verbose)."""
    if "keras" in sys.modules or not _quiet:
        import keras

        return keras
    with _native_logs_hidden():
        import keras

        keras.ops.convert_to_tensor(0.0)  # device discovery happens here: its notices too
    return keras
