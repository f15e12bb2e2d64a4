"""The run folder: one training at a time holds it, and a run that reached no checkpoint leaves nothing in it."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
from datetime import datetime
from pathlib import Path
from typing import IO

from ..files import reason, remove_stale

LOCK = ".lock"  # held (flock) by the training that owns a run folder; the kernel lets go if it is killed
RUN_FILES = ("history.csv", "history.png", "train_rows.npy")  # what a run writes besides its checkpoints


def claim_run_dir(weights_dir: Path, name: str, preset: str) -> tuple[Path, IO]:
    """Make or take the run folder `weights_dir/name` (default: date, time and preset, with -2, -3, ...
    when another run took that name in the same second) and lock it for this process; return it and
    the lock, which `release_run_dir` lets go. Refused: a folder another training holds, or that
    holds a finished or unfinished run (two runs must never mix their checkpoints). A run that
    stopped before its first checkpoint (killed) leaves files that block nothing: they are removed.
    What killed runs under `weights_dir` left half-written is removed first."""
    from .checkpoint import BEST, CheckpointError

    try:
        weights_dir.mkdir(parents=True, exist_ok=True)
        for folder in weights_dir.glob("*/"):
            remove_stale(folder)
        run_dir = weights_dir / name if name else new_run_dir(weights_dir, f"{datetime.now():%Y%m%d-%H%M%S}-{preset}")
        run_dir.mkdir(exist_ok=True)
        lock = open(run_dir / LOCK, "a")  # noqa: SIM115 - held until the run ends
    except OSError as error:
        raise CheckpointError(f"cannot make a run folder in {weights_dir}: {reason(error)}") from error
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise CheckpointError(f"{run_dir} is being trained by another process now: choose another --run-name") from None
    refusal = None
    if (run_dir / BEST).exists():
        refusal = f"{run_dir} already holds a trained run: choose another --run-name (with --resume {run_dir / BEST} "
        refusal += "to continue it)"
    elif any(run_dir.glob("*.weights.h5")):
        refusal = f"{run_dir} holds checkpoints of an unfinished run (no {BEST}): choose another --run-name or "
        refusal += "remove that folder"
    if refusal:
        release_run_dir(run_dir, lock)
        raise CheckpointError(refusal)
    left = [run_dir / f for f in RUN_FILES if (run_dir / f).exists()]
    if left:
        names = ", ".join(p.name for p in left)
        print(f"{run_dir}: removing what a run that stopped before its first checkpoint left ({names})")
        forget_run(run_dir)
    return run_dir, lock


def new_run_dir(weights_dir: Path, name: str) -> Path:
    """A run folder `name` made under `weights_dir`, or `name-2`, `name-3`, ... if it is taken."""
    for number in itertools.count(1):
        run_dir = weights_dir / (name if number == 1 else f"{name}-{number}")
        with contextlib.suppress(FileExistsError):
            run_dir.mkdir()
            return run_dir
    raise AssertionError("unreachable")


def forget_run(run_dir: Path) -> None:
    """Remove what a run wrote in `run_dir` besides checkpoints (a run that reached none: nothing of it is worth
    keeping, and nothing of it may block its name)."""
    for name in RUN_FILES:
        with contextlib.suppress(OSError):
            (run_dir / name).unlink(missing_ok=True)


def release_run_dir(run_dir: Path, lock: IO) -> None:
    """Let go of `run_dir` (`claim_run_dir`); a folder left with nothing in it is removed."""
    with contextlib.suppress(OSError):
        (run_dir / LOCK).unlink(missing_ok=True)
    lock.close()
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only if empty
