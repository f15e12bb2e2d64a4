"""train.py: presets, checkpoints that carry everything, atomic saving, resume, and clear errors."""

import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, shipped, train_args
from reference_sampler import build_head_models, build_step_model

from lstm_music.data.corpus import load_corpus
from lstm_music.data.encoding import encode_piece
from lstm_music.data.midi_io import read_piece
from lstm_music.data.preparation import prepare, split_pieces
from lstm_music.data.vocab import vocabularies_to_json
from lstm_music.model.checkpoint import BEST, LATEST, CheckpointError, load_checkpoint, read_metadata, read_train_rows
from lstm_music.model.network import PRESETS, build_model, input_names
from lstm_music.model.repeats import BUCKETS
from lstm_music.model.training import precision_problem, read_history
from lstm_music.streams import STREAMS, given_key, input_key, model_inputs


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("conditioned", [False, True])
def test_each_preset_builds_with_vocabulary_sized_heads(preset: str, conditioned: bool) -> None:
    sizes = {"note": 57, "offset": 9, "duration": 13}
    model = build_model(sizes, replace(PRESETS[preset], conditioned=conditioned))
    assert sorted(model.output_names) == sorted(STREAMS)
    givens = {given_key("note"), given_key("offset")} if conditioned else set()
    assert set(input_names(model)) == {input_key(s) for s in STREAMS} | givens
    block = np.random.default_rng(0).integers(2, 9, size=(2, 13, 3)).astype(np.int32)
    inputs = model_inputs(block, input_names(model))
    out = model.predict_on_batch(inputs)
    for s in STREAMS:
        assert out[s].shape == (2, 12, sizes[s])
        np.testing.assert_allclose(out[s].sum(axis=-1), 1.0, rtol=1e-4)
    sampling = [build_step_model(model), *build_head_models(model).values()]
    assert {w.path for m in sampling for w in m.weights} == {w.path for w in model.weights}
    if conditioned:  # the duration head reads the event's note: another note, other probabilities
        changed = model.predict_on_batch(inputs | {given_key("note"): inputs[given_key("note")] + 1})
        np.testing.assert_allclose(changed["note"], out["note"], atol=1e-6)
        assert np.abs(changed["duration"] - out["duration"]).max() > 1e-4


def test_checkpoint_is_self_contained_and_reloads_identically(tiny_run: Path, tiny_data: Path) -> None:
    best = tiny_run / BEST
    assert best.is_file()
    assert sorted(p.name for p in tiny_run.glob("*.weights.h5")) == [BEST, "latest.weights.h5"]  # two, however long
    assert [row["epoch"] for row in read_history(tiny_run)] == ["0", "1"]
    from matplotlib.image import imread

    curves = imread(tiny_run / "history.png")  # redrawn after every epoch
    assert curves.shape[:2] == (450, 800) and curves[..., :3].std() > 0.05
    metadata = read_metadata(best)
    model, _, vocabularies = load_checkpoint(best)
    corpus = load_corpus(tiny_data, None, workers=1, progress=False)
    train, validation = split_pieces(corpus.pieces, 0.2, 0)
    assert metadata.sequence_length == 16
    assert metadata.model["branch_units"] == 16 and metadata.model["trunk_units"] == [16]
    assert metadata.train_pieces == [p.path for p in train]
    assert metadata.training["validation_pieces"] == [p.path for p in validation]
    assert metadata.training["events"] == corpus.events
    assert metadata.parser["quarter_length_divisors"] == [4, 3]
    assert {"val_loss", "note_accuracy"} <= set(metadata.metrics)
    weights = metadata.repeat_weights  # fitted on the validation pieces
    assert set(weights) == set(STREAMS) and all(
        len(w) == len(BUCKETS) and all(0 <= x < 1 for x in w) for w in weights.values()
    )
    train_rows = read_train_rows(best)
    seen = prepare(train, "note", True)  # one event per note, each piece in C major or A minor
    assert metadata.representation == "note" and metadata.common_key is True
    assert np.array_equal(train_rows, np.concatenate([encode_piece(p, vocabularies) for p in seen]))
    # each training piece's register (5th and 95th percentile pitch), for generation to draw from
    registers = [np.percentile([m for e in p.events for m in e.pitches], [5, 95]) for p in seen]
    np.testing.assert_allclose(metadata.registers, registers, atol=0.051)

    rows = encode_piece(validation[0], vocabularies)[:40]
    here = model.predict_on_batch(model_inputs(rows[None], input_names(model), [[55.0, 74.0]]))
    np.save(tiny_run.parent / "batch.npy", rows)
    probe = (
        "import sys, json, numpy as np\n"
        "from lstm_music.model.checkpoint import load_checkpoint\n"
        "from lstm_music.model.network import input_names\n"
        "from lstm_music.streams import STREAMS, model_inputs\nfrom lstm_music.data.vocab import vocabularies_to_json\n"
        "model, meta, voc = load_checkpoint(sys.argv[1]); rows = np.load(sys.argv[2])\n"
        "out = model.predict_on_batch(model_inputs(rows[None], input_names(model), [[55.0, 74.0]]))\n"
        "np.savez(sys.argv[3], **{s: out[s] for s in STREAMS})\n"
        "print(json.dumps(vocabularies_to_json(voc)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(best), str(tiny_run.parent / "batch.npy"), str(tiny_run.parent / "out.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == vocabularies_to_json(vocabularies)
    there = np.load(tiny_run.parent / "out.npz")
    for s in STREAMS:
        np.testing.assert_array_equal(here[s], there[s])


def test_metadata_round_trips_and_reads_what_older_checkpoints_stored(tiny_run: Path) -> None:
    from conftest import stored_metadata

    from lstm_music.data.instruments import PIANO
    from lstm_music.data.preparation import OLD_REPRESENTATION
    from lstm_music.model.checkpoint import FORMAT, Metadata

    metadata = read_metadata(tiny_run / BEST)
    assert Metadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    assert stored_metadata(tiny_run / BEST) == metadata.to_dict()  # stored as the schema writes it
    assert metadata.meters and metadata.piece_meters and metadata.repeat_weights and metadata.epoch == 2
    first = Metadata.from_dict({"format": FORMAT, "vocabularies": metadata.vocabularies, "model": metadata.model})
    assert (first.representation, first.common_key, first.plays) == (OLD_REPRESENTATION, False, PIANO)
    assert (first.meters, first.styles, first.repeat_weights, first.train_pieces) == ([], [], None, [])
    assert Metadata.from_dict({**metadata.to_dict(), "preset": "seed"}).preset == "original"  # its name until then
    with pytest.raises(ValueError, match="format"):
        Metadata.from_dict({**metadata.to_dict(), "format": "lstm_music-checkpoint/0"})
    with pytest.raises(KeyError, match="model"):
        Metadata.from_dict({"format": FORMAT, "vocabularies": metadata.vocabularies})


def test_each_command_reads_a_checkpoints_metadata_once(tiny_run: Path, tiny_data: Path, tmp_path, monkeypatch) -> None:
    from generate_music import main as generate_main
    from lstm_music.evaluate.run import main as evaluate_main
    from lstm_music.model import checkpoint
    from train import main as train_main

    reads = []
    original = checkpoint.read_metadata
    monkeypatch.setattr(checkpoint, "read_metadata", lambda path: reads.append(path) or original(path))
    assert generate_main(["--checkpoint", str(tiny_run), "--out", str(tmp_path / "a.mid"), "--length", "20"]) == 0
    assert evaluate_main(["--checkpoint", str(tiny_run), "--data", str(tiny_data)]) == 0
    resumed = train_args(tiny_data, tmp_path, tmp_path / "cache", "more", "--resume", str(tiny_run / LATEST))
    assert train_main([*resumed, "--epochs", "3"]) == 0
    assert [Path(p) for p in reads] == [tiny_run / BEST, tiny_run / BEST, tiny_run / LATEST]


def test_checkpoint_killed_while_saving_is_complete_or_absent(tmp_path: Path) -> None:
    saver = (
        "import sys, numpy as np\n"
        "from lstm_music.model.checkpoint import Metadata, save_checkpoint\n"
        "from lstm_music.model.network import PRESETS, build_model\n"
        "model = build_model({'note': 3000, 'offset': 30, 'duration': 50}, PRESETS['default'])\n"
        "rows = np.zeros((50000, 3), dtype=np.int32)\n"
        "n = 0\n"
        "while True:\n"
        "    save_checkpoint(model, sys.argv[1], Metadata({}, {}, epoch=n), rows); n += 1\n"
        "    print(n, flush=True)\n"
    )
    target = tmp_path / BEST
    killed = []
    for delay in (0.0, 0.13, 0.29, 0.41):
        process = subprocess.Popen(
            [sys.executable, "-c", saver, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        killed.append(process.pid)
        process.stdout.readline()  # the first save finished: the kill lands in a later one
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [BEST]
        # the metadata is readable and the weights load into the model they belong to
        import h5py

        with h5py.File(target, "r") as handle:
            assert "lstm_music" in handle and "layers" in handle
        assert read_train_rows(target).shape == (50000, 3)
    # the scratch folders the killed savers were building checkpoints in go with the next one made
    from lstm_music.files import scratch_prefix

    def left() -> list[str]:
        found = Path(tempfile.gettempdir()).glob("lstm_music-checkpoint-*-*")
        return [p.name for p in found if p.name.split("-")[2] in map(str, killed)]

    assert left()
    scratch_prefix("lstm_music-checkpoint")
    assert left() == []


def test_resume_continues_epochs_from_saved_weights(
    tiny_run: Path, tiny_data: Path, tmp_path: Path, monkeypatch
) -> None:
    import keras

    from lstm_music.data import dataset
    from train import main

    # Keras reads a batch or two to learn the data's structure and then starts a new epoch, so the
    # trained first batch is the first one fetched after the last reshuffle before training.
    fetched = []
    original_get, original_end = dataset.WindowDataset.__getitem__, dataset.WindowDataset.on_epoch_end

    def recording(self, index):
        batch = original_get(self, index)
        if self.shuffle:
            fetched.append(batch)
        return batch

    def reshuffle(self):
        if self.shuffle:
            fetched.clear()
        original_end(self)

    first = {}

    class FirstLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                first["loss"], first["batch"] = float(logs["loss"]), fetched[0]

    monkeypatch.setattr(dataset.WindowDataset, "__getitem__", recording)
    monkeypatch.setattr(dataset.WindowDataset, "on_epoch_end", reshuffle)
    import lstm_music.model.training as training

    real_train = training.train
    monkeypatch.setattr(training, "train", lambda args, resumed=None: real_train(args, [FirstLoss()], resumed))
    saved = tiny_run / BEST
    args = train_args(tiny_data, tmp_path, tmp_path / "cache", "resumed", "--epochs", "1", "--resume", str(saved))
    assert main(args) == 0
    assert [row["epoch"] for row in read_history(tmp_path / "resumed")] == ["2"]
    assert read_metadata(tmp_path / "resumed" / BEST).epoch == 3

    model, _, _ = load_checkpoint(saved)
    from lstm_music.model.network import compile_model

    compile_model(model)
    inputs, targets, weight = first["batch"]
    expected = model.test_on_batch(inputs, targets, sample_weight={s: weight for s in STREAMS}, return_dict=True)
    assert first["loss"] == pytest.approx(expected["loss"], rel=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_reported_loss_is_the_mean_over_real_positions_however_much_padding(
    tiny_run: Path, tiny_data: Path, label_smoothing: float
) -> None:
    from lstm_music.data.dataset import WindowDataset
    from lstm_music.model.network import compile_model
    from lstm_music.model.scoring import target_probabilities

    model, _, vocabularies = load_checkpoint(tiny_run / BEST)
    compile_model(model, label_smoothing=label_smoothing)
    piece = encode_piece(prepare([read_piece(sorted(tiny_data.iterdir())[0])], "note", True)[0], vocabularies)
    expected = None
    for length in (len(piece) - 1, 4 * len(piece)):  # no padding, then three quarters padding
        data = WindowDataset([piece], length, 1, shuffle=False, names=input_names(model))
        inputs, targets, weight = data[0]
        assert weight.sum() == len(piece) - 1
        got = model.test_on_batch(inputs, targets, sample_weight={s: weight for s in STREAMS}, return_dict=True)
        expected = expected or got
        for s in STREAMS:
            assert got[f"{s}_loss"] == pytest.approx(expected[f"{s}_loss"], rel=1e-4)
    if not label_smoothing:  # the held-out scorer's nats per event, from the same probabilities
        probabilities = target_probabilities(model, [piece])[0][0]
        for i, s in enumerate(STREAMS):
            assert expected[f"{s}_loss"] == pytest.approx(-np.log(probabilities[:, i]).mean(), rel=1e-3)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sequence-length", "1"], "--sequence-length: must be an integer in [2, 4096], got 1"),
        (["--batch-size", "0"], "--batch-size: must be an integer in [1, 65536], got 0"),
    ],
)
def test_bad_flags_exit_2(flags: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "train.py", *flags], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr


def test_resume_from_a_file_that_is_not_a_checkpoint_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.weights.h5"
    bogus.write_text("not a checkpoint")
    result = subprocess.run(
        [sys.executable, "train.py", "--data", str(ROOT / "midi_songs"), "--resume", str(bogus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bogus} is not a checkpoint of this toolkit (not an HDF5 file)"
    with pytest.raises(CheckpointError, match="does not exist"):
        read_metadata(tmp_path / "missing.weights.h5")


def test_a_finished_run_is_never_overwritten(tiny_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    from train import main

    best = tiny_run / BEST
    before = best.read_bytes()
    args = train_args(tiny_data, tiny_run.parent, tmp_path / "cache", tiny_run.name, "--epochs", "1")
    assert main(args) == 2
    assert best.read_bytes() == before
    # a run killed after an epoch checkpoint but before its best: its name is not reused either
    unfinished = tmp_path / "w" / "killed"
    unfinished.mkdir(parents=True)
    (unfinished / "epoch001-val_loss7.0000.weights.h5").write_bytes(before)
    assert main(train_args(tiny_data, tmp_path / "w", tmp_path / "cache", "killed", "--epochs", "1")) == 2
    assert [p.name for p in unfinished.iterdir()] == ["epoch001-val_loss7.0000.weights.h5"]


def test_mixed_precision_training_leaves_float32_checkpoints(tiny_data: Path, tmp_path: Path) -> None:
    import keras

    from train import main

    args = train_args(tiny_data, tmp_path, tmp_path / "cache", "bf16", "--epochs", "1", "--precision", "mixed_bfloat16")
    try:
        assert main(args) == 0
    finally:
        keras.mixed_precision.set_global_policy("float32")
    best = tmp_path / "bf16" / BEST
    assert read_metadata(best).training["precision"] == "mixed_bfloat16"
    model, _, _ = load_checkpoint(best)
    assert {w.dtype for w in model.weights} == {"float32"}
    rows = read_train_rows(best)[:20]
    out = model.predict_on_batch(model_inputs(rows[None], input_names(model)))
    assert all(np.isfinite(out[s]).all() and out[s].dtype == np.float32 for s in STREAMS)


def test_half_precision_is_refused_only_where_the_backend_cannot_run_it() -> None:
    # measured on an H100 under JAX: cuDNN's LSTM lowering fails on bfloat16 and float16 (docs/BENCHMARKS.md)
    for precision in ("mixed_bfloat16", "mixed_float16"):
        problem = precision_problem(precision, "jax", {"gpu"})
        assert problem.startswith(f"--precision {precision}: ") and "\n" not in problem
        assert precision_problem(precision, "jax", {"cpu"}) is None
        assert precision_problem(precision, "tensorflow", set()) is None
    assert precision_problem("float32", "jax", {"gpu"}) is None


def test_scoring_in_batches_of_any_size_gives_the_same_probabilities(tiny_run: Path, tiny_data: Path) -> None:
    from lstm_music.model.network import input_names
    from lstm_music.model.scoring import target_probabilities
    from lstm_music.streams import model_inputs

    model, _, vocabularies = load_checkpoint(tiny_run / BEST)
    arrays = [encode_piece(p, vocabularies) for p in load_corpus(tiny_data, None, workers=1, progress=False).pieces]
    same_onset, _ = target_probabilities(model, arrays)
    alone, _ = target_probabilities(model, arrays, budget=1)  # one piece per batch
    stretched, _ = target_probabilities(model, arrays, span=7)  # 7 events at a time, the LSTM states carried
    for a, b, c, rows in zip(same_onset, alone, stretched, arrays, strict=True):
        assert a.shape == (len(rows) - 1, len(STREAMS))
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a, c, atol=1e-5)
    whole = model.predict_on_batch(model_inputs(arrays[0][None], input_names(model)))  # the plain model, in one go
    targets = arrays[0][1:]
    expected = [np.take_along_axis(np.asarray(whole[s])[0], targets[:, [j]], -1)[:, 0] for j, s in enumerate(STREAMS)]
    np.testing.assert_allclose(stretched[0], np.stack(expected, axis=1), atol=1e-5)


def test_resume_from_latest_continues_the_run_exactly(tiny_data: Path, tmp_path: Path, capsys) -> None:
    from train import main

    def weights(run: str) -> list:
        model, metadata, _ = load_checkpoint(tmp_path / run / LATEST)
        return [metadata.epoch, *model.get_weights()]

    cache = tmp_path / "cache"
    assert main(train_args(tiny_data, tmp_path, cache, "whole", "--epochs", "2")) == 0
    assert main(train_args(tiny_data, tmp_path, cache, "first", "--epochs", "1")) == 0
    capsys.readouterr()
    resumed = ["--resume", str(tmp_path / "first" / LATEST)]
    assert main(train_args(tiny_data, tmp_path, cache, "second", "--epochs", "1", *resumed)) == 0
    assert "resume: the optimizer continues from step" in capsys.readouterr().out
    whole, second = weights("whole"), weights("second")
    assert whole[0] == second[0] == 2
    for a, b in zip(whole[1:], second[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # N + M epochs in one go == N, then a resume for M
    assert (
        main(
            train_args(tiny_data, tmp_path, cache, "fresh", "--epochs", "1", "--resume", str(tmp_path / "first" / BEST))
        )
        == 0
    )
    assert "holds no optimizer state (weights only): continuing with a fresh optimizer" in capsys.readouterr().out
    fresh = weights("fresh")  # the same epochs with Adam started again: not the same run
    assert not all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(whole[1:], fresh[1:], strict=True))


def test_checkpoints_do_not_carry_the_training_split_and_evaluation_finds_or_rebuilds_it(
    tiny_run: Path, tiny_data: Path, tmp_path: Path, capsys
) -> None:
    import h5py

    from lstm_music.evaluate.run import main as evaluate_main
    from lstm_music.model.checkpoint import TRAIN_ROWS, fingerprint

    best = tiny_run / BEST
    with h5py.File(best, "r") as handle:
        assert "train_rows" not in handle["lstm_music"]  # a checkpoint's size does not grow with the corpus
    rows = np.load(tiny_run / TRAIN_ROWS)  # stored once per run
    assert read_metadata(best).train_rows == {"file": TRAIN_ROWS, "sha256": fingerprint(rows), "rows": len(rows)}
    flags = ["--data", str(tiny_data), "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert evaluate_main(["--checkpoint", str(best), *flags, str(tmp_path / "here.json")]) == 0
    alone = tmp_path / "copied" / BEST  # the checkpoint copied on its own: the split is rebuilt from --data
    alone.parent.mkdir()
    alone.write_bytes(best.read_bytes())
    capsys.readouterr()
    assert evaluate_main(["--checkpoint", str(alone), *flags, str(tmp_path / "alone.json")]) == 0
    assert "the n-gram's training split was rebuilt from" in capsys.readouterr().out
    here, there = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "alone"))
    assert here["held_out"]["ngram"] == there["held_out"]["ngram"]
    other = tmp_path / "other"  # a folder without the training pieces: one line, exit 2
    other.mkdir()
    (other / "x.mid").write_bytes(shipped("bach_bwv10.7.mid").read_bytes())
    assert (
        evaluate_main(["--checkpoint", str(alone), "--data", str(other), "--cache-dir", str(tmp_path / "cache")]) == 2
    )
    assert "give the training folder as --data" in capsys.readouterr().err


def test_weights_saved_by_an_earlier_version_load_into_the_same_layers() -> None:
    # Keras names a checkpoint's layers by their order in the graph (embedding, embedding_1, ...), so a
    # change to the sequence graph's operations can send saved weights into the wrong layers, silently
    # where the shapes agree. This file was saved by bf8d894 with every kind of layer the model has.
    import keras

    from lstm_music.model.network import ModelConfig, build_model

    saved = ROOT / "tests" / "data" / "layers-bf8d894"
    expected = json.loads(saved.with_suffix(".json").read_text())
    keras.utils.set_random_seed(1)  # other initial weights than the saved ones
    model = build_model(expected["vocabulary_sizes"], ModelConfig.from_dict(expected["model"]))
    model.load_weights(saved.with_suffix(".weights.h5"))
    sums = {layer.name: [round(float(np.sum(w)), 6) for w in layer.get_weights()] for layer in model.layers}
    sums = {name: values for name, values in sums.items() if values}
    assert sums.keys() == expected["weight_sums"].keys()
    for name, values in expected["weight_sums"].items():
        np.testing.assert_allclose(sums[name], values, atol=1e-5, err_msg=name)


def test_keep_all_keeps_every_improvement_beside_best_and_latest(tiny_data: Path, tmp_path: Path) -> None:
    from train import main

    assert main(train_args(tiny_data, tmp_path, tmp_path / "cache", "all", "--epochs", "2", "--keep-all")) == 0
    epochs = sorted((tmp_path / "all").glob("epoch*-val_loss*.weights.h5"))
    assert len(epochs) >= 1 and (tmp_path / "all" / "latest.weights.h5").is_file()
    assert (tmp_path / "all" / BEST).read_bytes() == epochs[-1].read_bytes()  # the best is the last improvement
