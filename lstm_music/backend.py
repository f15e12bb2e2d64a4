"""Loading Keras and its backend once: quietly, on the devices asked for, data-parallel if asked,
in one process or as one of several that train together (`join_processes`, JAX only).

TensorFlow 2.21 prints about seven lines (oneDNN, CUDA probing, `cuInit`) while it loads, some of
them logged before absl::InitializeLog, where no `TF_CPP_MIN_LOG_LEVEL` reaches them
(abseil-cpp#1957), so a user's `TF_CPP_MIN_LOG_LEVEL=3` does not hide them. `import_keras` hides
exactly those lines, in glog's format, and passes everything else on, unless the user asks for
them: `--verbose`, or `TF_CPP_MIN_LOG_LEVEL=0`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .cli import SettingError

if TYPE_CHECKING:
    import keras

_USER_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")  # read before anything of ours sets it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # after start-up, warnings and errors only
NATIVE_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] )"
)
_quiet = _USER_LEVEL != "0"  # unset, or 1-3 (the usual way to silence TensorFlow): the start-up lines are hidden
_cpu_devices = 0  # `split_cpu`: logical CPU devices to make when the backend loads
_threads = 0  # `set_threads`: threads per TensorFlow operation (0: TensorFlow's choice, one per core)
_processes: tuple[str, int, int] | None = None  # `join_processes`: (coordinator, processes, this one's index)


def set_verbose(verbose: bool) -> None:
    """With `verbose`, show every C++ log line from here on (level 0, whatever the user set)."""
    global _quiet
    if verbose:
        _quiet = False
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def quiet() -> contextlib.AbstractContextManager:
    """Hide C++ log lines for the duration unless the user asked for them (`--verbose`, or
    `TF_CPP_MIN_LOG_LEVEL=0`); what else goes to stderr is shown when it ends."""
    return _native_logs_hidden() if _quiet else contextlib.nullcontext()


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


def split_cpu(count: int) -> None:
    """Make the backend see the CPU as `count` devices (to train data-parallel without a GPU, as
    the tests and CI do). Must come before Keras loads: JAX reads it from `XLA_FLAGS` at import,
    TensorFlow takes it just after (`import_keras`)."""
    global _cpu_devices
    _cpu_devices = count
    flag = f"--xla_force_host_platform_device_count={count}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def set_threads(count: int) -> None:
    """Run each TensorFlow operation on `count` threads when Keras loads (no effect once Keras or
    TensorFlow, which imports Keras, has loaded; a user's own `TF_NUM_INTRAOP_THREADS` wins).
    Generation sets 1 for small batches: its step is hundreds of tiny operations, and handing each to
    a second core cost more than it saved (docs/BENCHMARKS.md)."""
    global _threads
    if "TF_NUM_INTRAOP_THREADS" not in os.environ:
        _threads = count


def join_processes(coordinator: str, processes: int, index: int) -> None:
    """Make this process number `index` of `processes` that train one model together, meeting at
    `coordinator` (host:port of process 0), when the backend loads. JAX only: Keras'
    `keras.distribution.initialize` (`jax.distributed.initialize`), with gloo collectives on CPUs."""
    global _processes
    _processes = (coordinator, processes, index)


def process_part() -> tuple[int, int]:
    """(this process's index, the number of processes) of `join_processes`; (0, 1) alone."""
    return (_processes[2], _processes[1]) if _processes else (0, 1)


def agreed(flag: bool) -> bool:
    """Process 0's `flag` in every process (each process alone: `flag`), so that decisions taken
    on one clock, like the time limit, are taken by all processes at the same step."""
    if not _processes:
        return flag
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


BACKENDS = ("tensorflow", "jax", "torch")  # the Keras backends this toolkit trains and generates with


def check_backend() -> None:
    """`SettingError` naming `KERAS_BACKEND` when it asks for a backend this toolkit cannot use or
    that is not installed, before anything slow starts (Keras itself would end in a traceback)."""
    import importlib.util

    name = os.environ.get("KERAS_BACKEND")
    if name is None:
        return
    if name not in BACKENDS:
        raise SettingError(f"KERAS_BACKEND={name}: not a backend this toolkit runs on ({', '.join(BACKENDS)})")
    if importlib.util.find_spec(name) is None:
        raise SettingError(f"KERAS_BACKEND={name}: {name} is not installed (pip install {name}, or unset it)")


def import_keras() -> keras:
    """Import Keras and open its backend's devices (the first time, quietly unless verbose);
    `SettingError` naming the backend if it cannot be loaded."""
    if "keras" in sys.modules:
        import keras

        return keras
    check_backend()
    with quiet():
        try:
            import keras
        except (ImportError, ValueError) as error:
            sys.modules.pop("keras", None)
            name = os.environ.get("KERAS_BACKEND", "tensorflow")
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise SettingError(f"KERAS_BACKEND={name}: Keras cannot load it ({first})") from None

        if _cpu_devices and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * _cpu_devices)
        if _threads and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(_threads)
        if _processes:  # before any computation: the processes meet here
            if keras.backend.backend() != "jax":
                raise SettingError(
                    f"--processes {_processes[1]}: several processes train together under JAX only "
                    "(KERAS_BACKEND=jax); Keras 3 does not train under TensorFlow's "
                    "MultiWorkerMirroredStrategy (keras#20585)"
                )
            import jax

            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            keras.distribution.initialize(*_processes)
        keras.ops.convert_to_tensor(0.0)  # device discovery happens here: its notices too
    return keras


def data_parallel(enabled: bool) -> tuple[contextlib.AbstractContextManager, int]:
    """What to build and train the model in, and over how many devices (batches must divide among
    them): with `enabled` and several local devices (GPUs, else the logical CPUs of `split_cpu`),
    the backend's own data parallelism, `MirroredStrategy` under TensorFlow or
    `keras.distribution.DataParallel` under JAX; else nothing and 1. Prints what it uses."""
    keras = import_keras()
    if not enabled:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        strategy = tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else None
    elif backend == "jax":
        import jax

        devices = jax.devices()  # of every process, when there are several
        strategy = None
        if len(devices) > 1:  # several processes each feed their own share of every batch (`WindowDataset`)
            strategy = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=not _processes)
    else:
        devices, strategy = [None], None
    if strategy is None:
        print(f"--distribute: one device found ({backend}): training on it alone")
        return contextlib.nullcontext(), 1
    among = f" in {_processes[1]} processes" if _processes else ""
    print(f"--distribute: data parallel over {len(devices)} devices{among} ({backend})")
    if backend == "jax":
        keras.distribution.set_distribution(strategy)
        return contextlib.nullcontext(), len(devices)
    return strategy.scope(), len(devices)
