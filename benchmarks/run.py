"""Measure parsing, training and sampling speed against baselines in the same run (`make bench`), and
how much of new music each note representation can read.

    python benchmarks/run.py                  # everything on midi_songs/
    python benchmarks/run.py --only sampling  # one part: parse, warm, unknown, training, instruments,
                                              # memory, sampling, start, fine-tune
    python benchmarks/run.py --only sampling --threads 1  # as generate_music.py runs a few pieces

Each part prints a Markdown table (copied into docs/BENCHMARKS.md with the machine and date) and
all numbers go to benchmarks/results/<date>.json. Baselines are measured here, on the same data:
music21's full `converter.parse` in one process for parsing, the original design's network (one
target per 100-event window, scaled-float inputs) for training, and recomputing a 100-event
window per event for sampling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from lstm_music.data.corpus import load_corpus  # noqa: E402

RESULTS: dict = {}


def table(title: str, header: list[str], rows: list[list]) -> None:
    """Print one Markdown table."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{v:,.3g}" if isinstance(v, float) else str(v) for v in row) + " |")
    sys.stdout.flush()


def bench_parse(data: Path) -> None:
    """Cold parse: full music21 path in one process vs the lean path in all workers; then cached."""
    from lstm_music.data import corpus as corpus_module
    from lstm_music.data.midi_io import read_score

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        original = corpus_module.read_piece
        corpus_module.read_piece = lambda path, progress=None: read_score(path)  # full converter.parse path
        try:
            full = load_corpus(data, None, workers=1, progress=False)
        finally:
            corpus_module.read_piece = original
        full_s = time.perf_counter() - start
        start = time.perf_counter()
        lean_one = load_corpus(data, None, workers=1, progress=False)
        lean_one_s = time.perf_counter() - start
        start = time.perf_counter()
        lean = load_corpus(data, cache, workers=os.cpu_count(), progress=False)
        lean_s = time.perf_counter() - start
        start = time.perf_counter()
        cached = load_corpus(data, cache, workers=os.cpu_count(), progress=False)
        cached_s = time.perf_counter() - start
    assert cached.parsed == 0 and lean.events == lean_one.events
    files = len(lean.pieces)
    rows = [
        ["full converter.parse, 1 process (baseline)", full_s, full_s / files, 1.0],
        ["lean reader, 1 process", lean_one_s, lean_one_s / files, full_s / lean_one_s],
        [f"lean reader, {os.cpu_count()} processes", lean_s, lean_s / files, full_s / lean_s],
        ["cached (no parsing)", cached_s, cached_s / files, full_s / cached_s],
    ]
    table(f"Parsing {files} files, {lean.events:,} events", ["path", "seconds", "s/file", "speed-up"], rows)
    same = sum(a.events == b.events for a, b in zip(full.pieces, lean.pieces, strict=True))
    print(f"\nlean and full paths give identical events on {same} of {files} files")
    RESULTS["parse"] = {"files": files, "events": lean.events, "rows": rows, "identical_files": same}


def model_flops(vocab: dict[str, int], config) -> float:
    """Forward multiply-add FLOPs per target event (2 per multiply-add) of the sequence model."""
    flops = len(vocab) * 2 * 4 * (config.embedding + config.branch_units) * config.branch_units
    width = 3 * config.branch_units
    for units in config.trunk_units:
        flops += 2 * 4 * (width + units) * units
        width = units
    flops += 2 * width * config.dense_units
    for i, size in enumerate(vocab.values()):
        width = config.dense_units + (i * config.embedding if config.conditioned else 0)
        if config.head_units:
            flops += 2 * width * config.head_units + 2 * config.head_units * size
        else:
            flops += 2 * width * size
    return flops


def best_of(times: int, work, *args, **kwargs) -> float:
    """The fewest seconds `work(*args, **kwargs)` took in `times` runs: the run least disturbed by the
    rest of the machine."""
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        work(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate() -> float:
    """This machine's float32 matrix-multiply rate in FLOP/s (numpy, 2048 x 2048)."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    return 2 * 2048**3 / best_of(5, np.matmul, a, a)


def prepared(data: Path, representation: str = "chord") -> tuple[list[np.ndarray], dict[str, int], float]:
    """Training arrays and vocabulary sizes of `data` as train.py makes them, and notes per event."""
    from lstm_music.data.encoding import encode_piece
    from lstm_music.data.preparation import prepare, split_pieces
    from lstm_music.data.vocab import build_vocabularies

    corpus = load_corpus(data, ROOT / ".cache" / "events", progress=False)
    train, _ = split_pieces(corpus.pieces, 0.1, 0)
    train = prepare(train, representation, False)
    vocabularies = build_vocabularies(train, 2, representation)
    events = [e for p in train for e in p.events]
    notes_per_event = sum(len(e.pitches) for e in events) / len(events)
    arrays = [encode_piece(p, vocabularies) for p in train]
    return arrays, {s: len(v) for s, v in vocabularies.items()}, notes_per_event


def original_throughput(arrays: list[np.ndarray], vocab: dict[str, int], seconds: float) -> float:
    """Windows (= targets) per second of the original design: 100 scaled floats in, one event out."""
    import keras
    from keras import layers

    inputs, branches = [], []
    for s in vocab:
        x = keras.Input(shape=(100, 1), name=s)
        inputs.append(x)
        branches.append(layers.LSTM(256, return_sequences=True)(x))
    x = layers.Concatenate()(branches)
    x = layers.LSTM(512, return_sequences=True)(x)
    x = layers.LSTM(512)(x)
    x = layers.Dense(256, activation="relu")(x)
    outputs = []
    for s, size in vocab.items():
        y = layers.Dense(128)(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Dropout(0.3)(y)
        outputs.append(layers.Dense(size, activation="softmax", name=f"{s}_out")(y))
    model = keras.Model(inputs, outputs)
    model.compile("rmsprop", ["categorical_crossentropy"] * 3)
    rows = np.concatenate(arrays)
    batch = 64
    starts = np.random.default_rng(0).integers(0, len(rows) - 101, size=batch)
    x = [(np.stack([rows[i : i + 100, k] for i in starts]) / vocab[s])[..., None] for k, s in enumerate(vocab)]
    y = [keras.utils.to_categorical(rows[starts + 100, k], vocab[s]) for k, s in enumerate(vocab)]
    model.train_on_batch(x, y)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train_on_batch(x, y)
        done += batch
    return done / (time.perf_counter() - start)


def targets_per_second(model, arrays: list[np.ndarray], batch: int, seconds: float) -> float:
    """Real (unpadded) training targets per second of `model` on full batches of 64-event windows
    (under JAX a smaller last batch would compile again inside the timing)."""
    from lstm_music.data.dataset import WindowDataset
    from lstm_music.model.network import input_names

    dataset = WindowDataset(arrays, 64, batch, None, True, 0, input_names(model))
    batches = [b for b in (dataset[i] for i in range(min(len(dataset), 41))) if len(b[2]) == batch]
    model.train_on_batch(*batches[0][:2], sample_weight=batches[0][2])
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        x, y, w = batches[i % len(batches)]
        model.train_on_batch(x, y, sample_weight=w)
        done += int(w.sum())
        i += 1
    return done / (time.perf_counter() - start)


def bench_training(data: Path, seconds: float) -> None:
    """Target events and notes per second and achieved FLOP/s for each preset and representation,
    beside the original design and the previous default preset on chord tokens."""
    import keras

    from lstm_music.model.network import PRESETS, ModelConfig, build_model, compile_model
    from lstm_music.model.training import jax_platforms

    # The default preset up to 2026-11-27, made for chord tokens (issue 9 measures the new one against it).
    previous_default = ModelConfig(64, 128, [256, 256], 256, 128, True, 0.3, True)
    data_of = {r: prepared(data, r) for r in ("chord", "note")}
    arrays, vocab, _ = data_of["chord"]
    rate = matmul_rate()
    rows = []
    original = original_throughput(arrays, vocab, seconds)
    original_notes = original * data_of["chord"][2]
    rows.append(["original design (chord tokens, 1 target per 100-event window, batch 64)", original, original_notes])
    rows[0] += [1.0, "-", "-", "-"]
    presets = {**PRESETS, "previous default": previous_default}
    # The baseline of the default's speed: the previous default preset on chord events at batch 32.
    runs = [("chord", "previous default", 32, "float32"), ("note", "default", 64, "float32")]
    runs += [("chord", "default", 64, "float32"), ("note", "previous default", 32, "float32")]
    runs += [("chord", "small", 64, "float32"), ("note", "small", 64, "float32")]
    runs += [("chord", "default", 64, "mixed_bfloat16"), ("note", "default", 64, "mixed_bfloat16")]
    runs += [("chord", "original", 256, "mixed_bfloat16"), ("note", "original", 256, "mixed_bfloat16")]
    if "gpu" in jax_platforms():  # batch sizes that fill a GPU; half precision fails there (a row says so)
        runs += [("chord", "default", 256, "float32"), ("note", "default", 256, "float32")]
        runs += [("note", "default", 256, "mixed_float16"), ("note", "original", 256, "float32")]
    baseline = None
    for representation, preset, batch, precision in runs:
        arrays, vocab, notes_per_event = data_of[representation]
        config = replace(presets[preset], pitch_embedding=representation == "note", register=representation == "note")
        keras.mixed_precision.set_global_policy(precision)
        keras.utils.set_random_seed(0)
        model = compile_model(build_model(vocab, config))
        name = f"`{preset}`, {representation} events (note vocabulary {vocab['note']}), batch {batch}, {precision}"
        try:
            per_second = targets_per_second(model, arrays, batch, seconds)
        except Exception as error:  # a backend that lacks a kernel for this precision: say so, go on
            keras.mixed_precision.set_global_policy("float32")
            rows.append([name, f"fails: {str(error).splitlines()[-1][:80]}", "-", "-", "-", "-", "-"])
            continue
        achieved = 3 * model_flops(vocab, config) * per_second  # forward + backward = 3x forward
        keras.mixed_precision.set_global_policy("float32")
        notes = per_second * notes_per_event
        baseline = baseline or notes
        flops = [f"{achieved / 1e9:.1f}", f"{achieved / rate:.0%}"]
        rows.append([name, per_second, notes, notes / original_notes, notes / baseline, *flops])
    table(
        f"Training throughput (float32 matmul rate here: {rate / 1e9:.1f} GFLOP/s)",
        ["model", "target events/s", "target notes/s", "notes/s vs original", "notes/s vs previous default"]
        + ["model GFLOP/s", "of matmul rate"],
        rows,
    )
    RESULTS["training"] = {"matmul_flops": rate, "rows": rows, "notes_per_event": data_of["chord"][2]}


def bench_instruments(data: Path, seconds: float) -> None:
    """Training speed of the default preset on the string quartets of `midi_ensembles/` with the
    instrument stream (four branches) and with every part merged into one instrument (three)."""
    import keras

    from lstm_music.data.encoding import encode_piece
    from lstm_music.data.preparation import prepare, split_pieces
    from lstm_music.data.vocab import build_vocabularies
    from lstm_music.model.network import PRESETS, build_model, compile_model
    from lstm_music.model.training import jax_platforms

    corpus = load_corpus(ROOT / "midi_ensembles", ROOT / ".cache" / "events", progress=False)
    train, _ = split_pieces(corpus.pieces, 0.1, 0)
    rows = []
    batch = 256 if "gpu" in jax_platforms() else 32  # a GPU wants larger batches (docs/BENCHMARKS.md, "GPU")
    for instruments in (False, True):
        seen = prepare(train, "note", True, instruments)
        vocabularies = build_vocabularies(seen, 2, "note", instruments)
        arrays = [encode_piece(p, vocabularies) for p in seen]
        keras.utils.set_random_seed(0)
        config = replace(PRESETS["default"], pitch_embedding=True, register=True)
        model = compile_model(build_model({k: len(v) for k, v in vocabularies.items()}, config))
        rate = targets_per_second(model, arrays, batch, seconds)
        name = "four streams (instrument learned)" if instruments else "three streams (--instruments merge)"
        rows.append(
            [f"`default`, note events, batch {batch}: {name}", len(vocabularies), f"{model.count_params():,}", rate]
        )
    for row in rows:
        row.append(row[3] / rows[0][3])
    table(
        "Cost of the instrument stream (midi_ensembles/, training targets per second)",
        ["model", "streams", "parameters", "target notes/s", "vs three streams"],
        rows,
    )
    RESULTS["instruments"] = rows


PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def transposed_copies(data: Path, folder: Path, copies: int = 10) -> Path:
    """`copies` copies of every MIDI file under `data` in `folder`, the k-th shifted by k - copies // 2
    semitones (drums on channel 10 left alone): a collection `copies` times the size of `data`, laid
    out in the same sub-folders."""
    import mido

    for k in range(copies):
        shift = k - copies // 2
        for source in sorted(data.rglob("*.mid")):
            song = mido.MidiFile(source)
            for track in song.tracks:
                for i, message in enumerate(track):
                    if message.type in ("note_on", "note_off") and message.channel != 9:
                        track[i] = message.copy(note=min(127, max(0, message.note + shift)))
            place = source.relative_to(data)  # in its own sub-folder: its style stays its composer's
            target = folder / place.parent / f"{place.stem}{shift:+d}{place.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            song.save(target)
    return folder


def peak_memory(data: Path, weights: Path, name: str, minutes: float, cache: Path) -> tuple[int, float]:
    """(events, peak RSS in MiB) of one fresh `train.py` run on `data` (default preset, one epoch cut
    at `minutes` of training, then validated and saved as usual)."""
    command = [sys.executable, "train.py", "--data", str(data), "--weights-dir", str(weights),
               "--epochs", "1", "--max-minutes", str(minutes), "--progress", "0", "--run-name", name,
               "--cache-dir", str(cache)]  # fmt: skip
    # a fresh parent per run, so that its children's peak is this run's peak alone
    result = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    events = int(re.search(r"(\d+) events", result.stdout).group(1))
    return events, int(result.stdout.strip().splitlines()[-1]) / 1024


def parse_seconds(folder: Path, cache: Path) -> float:
    """Wall seconds of `train.py --parse-only` on `folder` with the parse cache in `cache`."""
    start = time.perf_counter()
    command = [sys.executable, "train.py", "--data", str(folder), "--cache-dir", str(cache), "--parse-only"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_warm(data: Path, runs: int = 5) -> None:
    """A warm start as a user sees it: whole `train.py --parse-only` processes, cold (an empty cache:
    every file parsed) against warm (everything cached; the fewest seconds of `runs`), on the data
    and on ten transposed copies of it (target: warm at least 20x faster than cold, and the warm
    cost per note flat in the size of the collection)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ten = transposed_copies(data, Path(tmp) / "ten")
        for name, folder in ((f"{data.name}/", data), (f"{data.name}/ in 10 transpositions", ten)):
            cache = Path(tmp) / f"cache{len(rows)}"
            cold = parse_seconds(folder, cache)
            warm = min(parse_seconds(folder, cache) for _ in range(runs))
            notes = sum(len(p.events.notes) for p in load_corpus(folder, cache, progress=False).pieces)
            rows.append([name, f"{notes:,}", cold, warm, f"{cold / warm:.1f}x", 1e6 * warm / notes])
    header = ["data", "notes", "cold (s)", f"warm (s, best of {runs})", "cold / warm", "warm µs per note"]
    table("train.py --parse-only as whole processes, cold and warm", header, rows)
    RESULTS["warm"] = rows


def bench_memory(data: Path, minutes: float = 1.0) -> None:
    """Peak resident memory of `train.py` on the data and on ten transposed copies of it (target:
    at most 10% more for ten times the music), each run cut after `minutes` of training; and the
    seconds to parse both, cold and from the cache (target: linear in the files)."""
    rows, parses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ten = transposed_copies(data, Path(tmp) / "ten")
        for name, folder in ((f"{data.name}/", data), (f"{data.name}/ in 10 transpositions", ten)):
            files = len(list(folder.rglob("*.mid")))
            cache = Path(tmp) / f"cache{len(parses)}"
            cold, cached = parse_seconds(folder, cache), parse_seconds(folder, cache)
            parses.append([name, files, cold, cold / files, cached])
            events, peak = peak_memory(folder, Path(tmp) / "w", f"m{len(rows)}", minutes, cache)
            rows.append([name, events, round(peak)])
    rows[1].append(f"{rows[1][2] / rows[0][2] - 1:+.1%}")
    table("Peak resident memory of train.py (default preset)", ["data", "events", "peak RSS (MiB)", "growth"], rows)
    header = ["data", "files", "cold parse (s)", "s per file", "from the cache (s)"]
    table("train.py --parse-only, cold and cached (2 workers)", header, parses)
    RESULTS["memory"] = {"peak": rows, "parse": parses}


def palestrina_folder(folder: Path, every: int = 13) -> Path:
    """Links to every `every`-th Palestrina movement of music21's corpus (a collection never used for choices)."""
    from music21 import corpus

    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((Path(corpus.__file__).parent / "palestrina").rglob("*.krn"))[::every]:
        (folder / source.name).symlink_to(source)
    return folder


def bench_unknown(data: Path) -> None:
    """Share of held-out notes each representation cannot represent, trained on one collection and read on another."""
    from lstm_music.data.preparation import prepare, split_pieces
    from lstm_music.data.vocab import build_vocabularies, unknown_notes

    cache = ROOT / ".cache" / "events"
    pieces = load_corpus(data, cache, progress=False).pieces
    with tempfile.TemporaryDirectory() as tmp:
        palestrina = load_corpus(palestrina_folder(Path(tmp) / "palestrina"), cache, progress=False).pieces
    chorales = [p for p in pieces if Path(p.path).name.startswith("bach_")]
    others = [p for p in pieces if not Path(p.path).name.startswith("bach_")]
    pairs = [("Bach chorales", chorales, f"the other pieces of {data.name}/", others)]
    pairs += [("Palestrina", palestrina, "Bach chorales", chorales)]
    pairs += [("Bach chorales", chorales, "Palestrina", palestrina)]
    rows = []
    for train_name, train_pieces, test_name, test_pieces in pairs:
        train, _ = split_pieces(train_pieces, 0.1, 0)  # the training split train.py would use
        for representation in ("chord", "note"):
            vocabularies = build_vocabularies(prepare(train, representation, False), 2, representation)
            counts = unknown_notes(prepare(test_pieces, representation, False), vocabularies)
            notes = counts["notes"]
            rows.append([f"{train_name} -> {test_name}", representation, len(vocabularies["note"]), notes,
                         f"{counts['pitch'] / notes:.2%}", f"{counts['rhythm'] / notes:.2%}"])  # fmt: skip
    header = ["trained on -> read", "representation", "note vocabulary", "notes read", "unknown_share"]
    header.append("rhythm unknown")
    table("Notes the vocabularies cannot represent (min count 2)", header, rows)
    RESULTS["unknown"] = rows


def bench_sampling(data: Path, events: int) -> None:
    """Milliseconds per generated event: incremental state-carrying steps vs a 100-event window per event."""
    import keras

    from lstm_music.data.meter import Meter
    from lstm_music.generate.conditions import make_bars
    from lstm_music.generate.sampling import LOOP_CHUNK, Sampler, SamplingSettings
    from lstm_music.model.network import PRESETS, build_model, input_names
    from lstm_music.model.repeats import BUCKETS
    from lstm_music.streams import STREAMS, model_inputs

    sys.path.insert(0, str(ROOT / "tests"))  # the numpy sampler is the tests' oracle, timed here beside the loop
    from reference_sampler import ReferenceSampler

    _, vocab, _ = prepared(data, "note")
    keras.utils.set_random_seed(0)
    meters = ["<unk>", "<start>", "4/4", "3/4", "6/8"]  # the model reads meter, as train.py makes it
    model = build_model(vocab, replace(PRESETS["default"], pitch_embedding=True, register=True, meters=len(meters)))
    samplers = {False: ReferenceSampler(model), True: Sampler(model)}
    # with the repeat memory mixed in and a pitch window, as generate_music.py samples a trained checkpoint
    settings = SamplingSettings(repeat_weights={s: [0.5] * len(BUCKETS) for s in STREAMS}, pitch_window=(7.0, 7.0))
    offsets = ["<unk>", "<start>", *(["0.25", "0.5", "1", "1/3"] * vocab["offset"])[: vocab["offset"] - 2]]
    rows = []
    for count in (1, 16):
        bars = make_bars(meters, [Meter(0, 4, 4), Meter(0, 3, 4)] * (count // 2) or [Meter(0, 4, 4)], offsets)
        for compiled in (False, True):
            how = f"compiled loop, {LOOP_CHUNK} events per call" if compiled else "a Keras call per head (reference)"
            generate = samplers[compiled].generate
            generate(events, count, settings, bars=bars)  # compile outside the timing
            seconds = best_of(3, generate, events, count, settings, seed=0, bars=bars)
            ms = seconds * 1000 / events
            rows.append([f"incremental, {how}, batch {count}", ms, ms / count])
    window = model_inputs(np.ones((1, 101, 3), dtype=np.int32), input_names(model))
    model.predict_on_batch(window)
    steps = max(20, events // 10)
    baseline = best_of(3, lambda: [model.predict_on_batch(window) for _ in range(steps)]) * 1000 / steps
    rows.insert(0, ["100-event window per event (baseline), batch 1", baseline, baseline])
    rows = [row + [baseline / row[2]] for row in rows]
    table("Sampling, default preset", ["method", "ms per step", "ms per event per piece", "speed-up"], rows)
    RESULTS["sampling"] = rows


def bench_start(data: Path, events: int = 500) -> None:
    """Seconds from the command to the file for one piece of `events` notes (default preset, note
    events, the repeat memory), and for a fresh clone's first piece (no run: the shipped base model,
    its default length), beside `python -c "import tensorflow"`: each the best of 3 fresh processes."""
    import keras

    from lstm_music.data.preparation import prepare, split_pieces
    from lstm_music.data.vocab import build_vocabularies, vocabularies_to_json
    from lstm_music.model.checkpoint import Metadata, save_checkpoint
    from lstm_music.model.network import PRESETS, build_model
    from lstm_music.model.repeats import BUCKETS
    from lstm_music.streams import STREAMS

    corpus = load_corpus(data, ROOT / ".cache" / "events", progress=False)
    train = prepare(split_pieces(corpus.pieces, 0.1, 0)[0], "note", True)
    vocabularies = build_vocabularies(train, 2, "note")
    config = replace(PRESETS["default"], pitch_embedding=True, register=True)
    keras.utils.set_random_seed(0)
    model = build_model({s: len(v) for s, v in vocabularies.items()}, config)
    metadata = Metadata(
        vocabularies_to_json(vocabularies), config.to_dict(), "note", common_key=True,
        registers=[[48.0, 72.0], [55.0, 79.0]], repeat_weights={s: [0.5] * len(BUCKETS) for s in STREAMS},
        median_bpm=100.0,
    )  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint(model, Path(tmp) / "start.weights.h5", metadata)
        (Path(tmp) / "no-runs").mkdir()
        commands = {
            '`python -c "import tensorflow"`': [sys.executable, "-c", "import tensorflow"],
            f"`generate_music.py --length {events}`": [sys.executable, "generate_music.py", "--checkpoint",
                str(checkpoint), "--length", str(events), "--seed", "0", "--out", str(Path(tmp) / "x.mid")],
            "`generate_music.py` on a fresh clone (the base)": [sys.executable, "generate_music.py", "--weights-dir",
                str(Path(tmp) / "no-runs"), "--seed", "0", "--out", str(Path(tmp) / "y.mid")],
        }  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        for name, command in commands.items():
            rows.append([name, best_of(3, subprocess.run, command, cwd=ROOT, check=True, capture_output=True, env=env)])
    rows += [["difference", rows[1][1] - rows[0][1]], ["difference (the base)", rows[2][1] - rows[0][1]]]
    table("Generation from the command to the file", ["process", "seconds (best of 3)"], rows)
    RESULTS["start"] = rows
    bench_writing(train)


def bench_writing(pieces: list, events: int = 1000) -> None:
    """Milliseconds to write `events` note events as a MIDI file: directly (mido) and through a music21 score."""
    from music21.midi import translate

    from lstm_music.data.midi_io import events_to_score, write_midi

    notes = [e for p in pieces for e in p.events][:events]
    write_midi(notes[:10], Path(tempfile.gettempdir()) / "warm.mid")  # imports outside the timing

    def through_music21(path: Path) -> None:
        midi_file = translate.streamToMidiFile(events_to_score(notes))
        midi_file.open(str(path), "wb")
        midi_file.write()
        midi_file.close()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        writers = {"direct (mido), today's writer": lambda path: write_midi(notes, path)}
        writers["through a music21 score (before)"] = through_music21
        for name, write in writers.items():
            rows.append([name, best_of(3, write, Path(tmp) / "x.mid") * 1000])
    table(f"Writing {len(notes)} note events as MIDI", ["writer", "ms (best of 3)"], rows)
    RESULTS["writing"] = rows


def bench_fine_tune(data: Path, minutes: float = 3.0) -> None:
    """Ten pieces of `data` trained from scratch and fine-tuned from the shipped base, side by side
    within `minutes` each, scored on ten others (`benchmarks/fine_tune.py`, which measures 10, 30
    and 100 pieces of two collections at 10 minutes for docs/BENCHMARKS.md)."""
    command = [sys.executable, "benchmarks/fine_tune.py", "--collection", f"bench={data}", "--sizes", "10",
               "--test", "10", "--minutes", str(minutes), "--generate", "5", "--length", "200"]  # fmt: skip
    lines = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout.splitlines()
    rows = [[cell.strip() for cell in line.strip(" |").split("|")] for line in lines if line.startswith("|")]
    header = ["run", "minutes", "nats/note", "with repeats", "n-gram", "classifier", "floor"]
    table(f"Fine-tuning the base on 10 pieces ({minutes:g} minutes each)", header, [r[: len(header)] for r in rows])
    RESULTS["fine_tune"] = rows


def main() -> None:
    """Run the parts the flags ask for and save the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_songs")
    parser.add_argument(
        "--only",
        choices=["parse", "warm", "unknown", "training", "instruments", "memory", "sampling", "start", "fine-tune"],
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="timed training seconds per model")
    parser.add_argument("--events", type=int, default=300, help="events sampled per measurement")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads per TensorFlow operation (0: one per core); generate_music.py uses 1 for up to 256 pieces",
    )
    args = parser.parse_args()
    from lstm_music.backend import import_keras, set_threads

    set_threads(args.threads)
    keras = import_keras()

    print(f"# {datetime.now():%Y-%m-%d %H:%M} on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, Keras {keras.__version__} "
          f"({keras.backend.backend()} backend), threads per operation: {args.threads or 'one per core'}")  # fmt: skip
    parts = {
        "parse": bench_parse,
        "warm": bench_warm,
        "unknown": bench_unknown,
        "training": bench_training,
        "instruments": bench_instruments,
        "memory": bench_memory,
        "sampling": bench_sampling,
        "start": bench_start,
        "fine-tune": bench_fine_tune,
    }
    for name, run in parts.items():
        if args.only in (None, name):
            if name in ("training", "instruments"):
                run(args.data, args.seconds)
            elif name == "sampling":
                run(args.data, args.events)
            else:
                run(args.data)
    out = ROOT / "benchmarks" / "results" / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=2, default=str))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
