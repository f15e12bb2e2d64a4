"""generate_music.py: reproducible files, exact contents, incremental decoding, primers, sampling rules."""

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import ROOT, note_of, shipped, store_metadata, stored_metadata
from reference_sampler import ReferenceSampler, choose

from generate_music import main
from lstm_music.data.encoding import encode_piece
from lstm_music.data.midi_io import playable, read_piece
from lstm_music.data.preparation import prepare
from lstm_music.data.tokens import token_pitches
from lstm_music.data.vocab import build_vocabularies, same_onset_index
from lstm_music.generate.generation import ONE_THREAD_BATCH
from lstm_music.generate.sampling import Sampler
from lstm_music.model.checkpoint import BEST, load_checkpoint
from lstm_music.model.network import input_names
from lstm_music.streams import (
    REGISTER_KEY,
    SPECIALS,
    START_INDEX,
    STREAMS,
    model_inputs,
    piece_register,
    register_margins,
)


def generate(run: Path, out: Path, *flags: str) -> Path:
    assert main(["--checkpoint", str(run), "--out", str(out), "--length", "40", *flags]) == 0
    return out


def absolute(events) -> list:
    """Events as (onset, duration, pitches), the form the MIDI file is read back into."""
    now, out = Fraction(0), []
    for e in events:
        now += e.offset
        out.append((now, e.duration, e.pitches))
    return out


def mido_notes(path: Path) -> list[tuple[Fraction, Fraction, int]]:
    """Every note in a MIDI file as (onset, duration, pitch) in quarter notes, read with mido."""
    midi = mido.MidiFile(path)
    notes = []
    for track in midi.tracks:
        now, sounding = 0, {}
        for m in track:
            now += m.time
            if m.type == "note_on" and m.velocity > 0:
                sounding[m.note] = now
            elif m.type in ("note_off", "note_on") and m.note in sounding:
                start = sounding.pop(m.note)
                notes.append((Fraction(start, midi.ticks_per_beat), Fraction(now - start, midi.ticks_per_beat), m.note))
    return sorted(notes)


def test_same_seed_same_file_different_seed_different_file(tiny_run: Path, tmp_path: Path) -> None:
    a = generate(tiny_run, tmp_path / "a.mid", "--seed", "7")
    b = generate(tiny_run, tmp_path / "b.mid", "--seed", "7")
    c = generate(tiny_run, tmp_path / "c.mid", "--seed", "8")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


FIXED = ROOT / "tests" / "data" / "fixed-9aea710"


def test_a_saved_checkpoint_writes_the_same_files_byte_for_byte(tmp_path: Path) -> None:
    # The checkpoint is the tiny chorale model of `conftest.train_args` (2 epochs, --seed 0) and the
    # MIDI files are what generate_music.py wrote from it at 9aea710: a refactoring keeps them.
    checkpoint = str(FIXED / "tiny.weights.h5")
    plain = tmp_path / "plain.mid"
    assert main(["--checkpoint", checkpoint, "--out", str(plain), "--length", "64", "--seed", "5"]) == 0
    assert plain.read_bytes() == (FIXED / "plain.mid").read_bytes()
    primed = ["--count", "3", "--length", "48", "--seed", "11", "--temperature", "0.8", "--top-k", "8"]
    primer = str(shipped("bach_bwv1.6.mid"))
    assert main(["--checkpoint", checkpoint, "--output-dir", str(tmp_path), "--primer", primer, *primed]) == 0
    written = sorted(tmp_path.glob("*-[123].mid"))
    assert [p.read_bytes() for p in written] == [(FIXED / f"primed-{i}.mid").read_bytes() for i in (1, 2, 3)]


def test_a_few_pieces_are_generated_one_thread_per_operation(tiny_run: Path, tmp_path: Path) -> None:
    """TensorFlow's threads per operation as generation leaves them: 1 for up to 256 pieces, TensorFlow's
    own choice (0) for more, and never against a user's TF_NUM_INTRAOP_THREADS."""
    code = (
        "import sys, generate_music; status = generate_music.main(sys.argv[1:]); import tensorflow as tf; "
        "print(tf.config.threading.get_intra_op_parallelism_threads()); sys.exit(status)"
    )

    def threads(*flags: str, **env: str) -> str:
        command = [sys.executable, "-c", code, "--checkpoint", str(tiny_run), "--length", "20", "--seed", "1", *flags]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[-1]

    assert threads("--out", str(tmp_path / "one.mid")) == "1"
    assert threads("--count", str(ONE_THREAD_BATCH + 1), "--output-dir", str(tmp_path / "many")) == "0"
    assert threads("--out", str(tmp_path / "user.mid"), TF_NUM_INTRAOP_THREADS="2") == "0"


def test_file_holds_the_sampled_events_with_tempo_and_instrument(tiny_run: Path, tmp_path: Path, monkeypatch) -> None:
    sampled = []
    original = Sampler.generate
    monkeypatch.setattr(
        Sampler, "generate", lambda self, *a, **k: sampled.append(original(self, *a, **k)) or sampled[-1]
    )
    out = generate(tiny_run, tmp_path / "v.mid", "--seed", "3", "--bpm", "93", "--instrument", "Violin")
    from lstm_music.data.encoding import decode_events

    _, _, vocabularies = load_checkpoint(tiny_run / BEST)
    events = decode_events(sampled[0][0], vocabularies)
    assert len(events) == 40
    # the file plays exactly the sampled events (as MIDI can hold them: see `playable`)
    expected = sorted(
        (onset, length, pitch) for onset, length, pitches in absolute(playable(events)) for pitch in pitches
    )
    assert mido_notes(out) == expected
    assert {(onset, pitch) for onset, _, pitch in expected} == {
        (onset, pitch) for onset, _, pitches in absolute(events) for pitch in pitches
    }
    messages = [m for track in mido.MidiFile(out).tracks for m in track]
    assert [round(mido.tempo2bpm(m.tempo), 3) for m in messages if m.type == "set_tempo"] == [93.0]
    assert {m.program for m in messages if m.type == "program_change"} == {40}  # General MIDI violin
    assert all(length > 0 for _, length, _ in expected)

    from music21 import converter

    score = converter.parse(out)
    assert len(score.flatten().notes) > 0


def test_incremental_steps_match_the_full_model(tiny_run: Path, tiny_data: Path) -> None:
    model, _, vocabularies = load_checkpoint(tiny_run / BEST)
    rows = encode_piece(read_piece(sorted(tiny_data.iterdir())[0]), vocabularies)[:12]
    register = piece_register(rows)
    assert REGISTER_KEY in input_names(model)  # the default: conditioned on the piece's register
    full = model.predict_on_batch(model_inputs(rows[None], input_names(model), register[None]))
    sampler = ReferenceSampler(model)
    states = sampler.start(1, register[None])
    for t in range(len(rows) - 1):
        probs, states, context = sampler.step(rows[t : t + 1], states)
        for i, s in enumerate(STREAMS):
            step = probs[s] if s in probs else sampler.head(s, context, rows[t + 1 : t + 2, :i])
            np.testing.assert_allclose(step[0], full[s][0, t], atol=1e-4)
    # another register is another input: the note head reads it
    higher = model.predict_on_batch(model_inputs(rows[None], input_names(model), register[None] + 12))
    assert np.abs(higher["note"] - full["note"]).max() > 1e-3


def test_primer_is_kept_and_conditions_the_music(tiny_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    primer = sorted(tiny_data.iterdir())[1]
    primer_struck = {(onset, p) for onset, _, pitches in absolute(read_piece(primer).events) for p in pitches}
    last = max(onset for onset, _ in primer_struck)
    plain = generate(tiny_run, tmp_path / "plain.mid", "--seed", "5")
    kept = generate(tiny_run, tmp_path / "kept.mid", "--seed", "5", "--primer", str(primer), "--keep-primer")
    kept_struck = {(onset, p) for onset, _, p in mido_notes(kept)}
    # the primer is all there before the continuation, which may add notes to its last chord
    assert {x for x in kept_struck if x[0] < last} == {x for x in primer_struck if x[0] < last}
    assert primer_struck <= kept_struck
    continuation = sorted((onset - last, p) for onset, p in kept_struck - primer_struck)
    unprimed = sorted((onset, p) for onset, _, p in mido_notes(plain) if onset > 0)
    assert len(continuation) > 10 and continuation != unprimed


def test_choose_argmax_rules_and_never_special_tokens() -> None:
    rng = np.random.default_rng(0)
    probs = np.array([[0.5, 0.3, 0.05, 0.1, 0.05], [0.0, 0.0, 0.2, 0.2, 0.6]])
    assert choose(probs, 0.0, 0, 1.0, rng).tolist() == [3, 4]
    assert choose(probs, 1.0, 1, 1.0, rng).tolist() == [3, 4]
    draws = np.concatenate([choose(probs, 1.0, 0, 1.0, rng) for _ in range(300)])
    assert set(draws.tolist()) == {2, 3, 4}
    top2 = np.concatenate([choose(probs, 1.0, 2, 1.0, rng) for _ in range(200)])
    assert set(top2[::2].tolist()) == {2, 3} and set(top2[1::2].tolist()) == {2, 4}
    nucleus = np.concatenate([choose(probs, 1.0, 0, 0.5, rng) for _ in range(100)])
    assert set(nucleus[::2].tolist()) == {3} and set(nucleus[1::2].tolist()) == {4}


class Draws:
    """A stand-in generator that returns the given uniform numbers."""

    def __init__(self, *values: float) -> None:
        self.values = np.array(values)

    def random(self, size: int) -> np.ndarray:
        return self.values[:size]


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 1.0), (3, 1.0), (0, 0.99)])
def test_a_draw_past_the_rounded_mass_takes_a_token_that_can_be_drawn(top_k: int, top_p: float) -> None:
    from keras import ops

    from lstm_music.generate.sampling import choose_ops

    # the last two tokens cannot be drawn; a draw past the cumulative sums' rounded total (here
    # 1.5, to be sure) used to take the very last token
    probs = np.array([[0.0, 0.0, 0.3, 0.7, 0.0, 0.0]])
    drawn = choose(probs, 1.0, top_k, top_p, Draws(1.5)).tolist()
    assert drawn in ([2], [3])
    compiled = choose_ops(probs.astype(np.float32), 1.0, top_k, top_p, np.array([1.5], dtype=np.float32))
    assert ops.convert_to_numpy(compiled).tolist() == drawn
    assert choose(probs, 1.0, top_k, top_p, Draws(0.5)).tolist() == [3]  # in the vocabulary's order when not cut


def test_temperature_zero_is_argmax_and_equals_top_k_one(tiny_run: Path, tmp_path: Path) -> None:
    # the seed still picks each piece's register (from the training pieces'), so both take seed 1
    zero = generate(tiny_run, tmp_path / "t0.mid", "--seed", "1", "--temperature", "0")
    top1 = generate(tiny_run, tmp_path / "k1.mid", "--seed", "1", "--top-k", "1")
    assert zero.read_bytes() == top1.read_bytes()
    model, _, _ = load_checkpoint(tiny_run / BEST)
    sampler = ReferenceSampler(model)
    probs, _, context = sampler.step(np.full((1, 3), START_INDEX), sampler.start(1))
    from lstm_music.generate.sampling import SamplingSettings

    first = sampler.generate(1, 1, SamplingSettings({s: 0.0 for s in STREAMS}), seed=9)[0]
    for i, s in enumerate(STREAMS):
        p = probs[s] if s in probs else sampler.head(s, context, first[:, :i])
        assert first[0, i] == int(np.argmax(p[0, 2:])) + 2


@pytest.mark.parametrize(
    "flags",
    [
        {},  # the defaults: temperature 1, the repeat memory
        {"temperature": {"note": 1.3, "offset": 0.0, "duration": 0.8}, "top_k": 6, "top_p": 0.9},
        {"temperature": {s: 0.0 for s in STREAMS}, "repeats": False},
        {"pitch_window": (2.0, 3.0)},
    ],
)
def test_the_compiled_loop_draws_what_the_reference_sampler_draws(tiny_run: Path, tiny_data: Path, flags) -> None:
    from lstm_music.generate.sampling import SamplingSettings

    model, metadata, vocabularies = load_checkpoint(tiny_run / BEST)
    assert metadata.repeat_weights
    settings = SamplingSettings(
        flags.get("temperature", {s: 1.0 for s in STREAMS}),
        flags.get("top_k", 0),
        flags.get("top_p", 1.0),
        metadata.repeat_weights if flags.get("repeats", True) else None,
        flags.get("pitch_window"),
    )
    primer = encode_piece(read_piece(sorted(tiny_data.iterdir())[2]), vocabularies)[1:30]
    sampler = Sampler(model, same_onset_index(vocabularies, "note"))
    registers = np.array([[50.0, 70.0], [40.0, 80.0], [60.0, 62.0]])
    # one random generator, the same numbers: the float32 graph must pick the same tokens as numpy
    oracle = ReferenceSampler(model, same_onset_index(vocabularies, "note"))
    reference = oracle.generate(150, 3, settings, seed=11, primer=primer, registers=registers)
    compiled = sampler.generate(150, 3, settings, seed=11, primer=primer, registers=registers)
    assert np.array_equal(compiled, reference)
    if settings.repeat_weights:  # sampled music, not argmax's loop
        assert len({tuple(row) for row in compiled.reshape(-1, 3).tolist()}) > 5
    if settings.pitch_window:  # every note within its piece's register widened by the window, not without it
        pitches = compiled[:, :, 0] - len(SPECIALS)
        low, high = registers[:, :1] - settings.pitch_window[0], registers[:, 1:] + settings.pitch_window[1]
        assert ((pitches >= low) & (pitches <= high)).all()
        free = sampler.generate(150, 3, SamplingSettings(), seed=11, primer=primer, registers=registers)
        assert not ((free[:, :, 0] - len(SPECIALS) >= low) & (free[:, :, 0] - len(SPECIALS) <= high)).all()


def test_register_margins_are_how_far_real_pieces_reach_past_their_register(tiny_data: Path) -> None:
    files = sorted(tiny_data.iterdir())
    pieces = prepare([read_piece(f) for f in files], "note", False)
    vocabularies = build_vocabularies(pieces, 1, "note")
    arrays = [encode_piece(p, vocabularies) for p in pieces]
    reach = []
    for path in files:  # read independently of the encoding: every note-on of the MIDI file
        pitches = [m.note for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0]
        low, high = np.percentile(pitches, [5, 95])
        reach.append((low - min(pitches), max(pitches) - high))
    assert register_margins(arrays, share=1.0) == pytest.approx(np.max(reach, axis=0), abs=0.06)
    assert register_margins(arrays[:1]) == pytest.approx(reach[0], abs=0.06)
    assert max(register_margins(arrays)) > 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "error: --checkpoint {tmp}/missing.weights.h5: does not exist"),
        ("text", "error: {tmp}/text.weights.h5 is not a checkpoint of this toolkit (not an HDF5 file)"),
    ],
)
def test_unusable_checkpoints_exit_2(setup: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "text.weights.h5").write_text("hello")
    (tmp_path / "empty").mkdir()
    flags = (
        ["--weights-dir", str(tmp_path / "empty")]
        if setup == "empty"
        else ["--checkpoint", str(tmp_path / f"{setup}.weights.h5")]
    )
    result = subprocess.run([sys.executable, "generate_music.py", *flags], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == message.format(tmp=tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda meta: b"{ not json", "its metadata is damaged (not JSON: "),
        (lambda meta: json.dumps({k: v for k, v in meta.items() if k != "vocabularies"}).encode(), "KeyError"),
        (lambda meta: json.dumps({**meta, "vocabularies": "[1, 2]"}).encode(), "its metadata is damaged (TypeError"),
        (lambda meta: json.dumps({**meta, "model": {**meta["model"], "trunk_units": [99]}}).encode(), "do not match"),
    ],
    ids=["not-json", "no-vocabularies", "bad-vocabularies", "other-architecture"],
)
def test_damaged_checkpoints_stop_generation_and_evaluation_with_one_line(
    damage, message: str, tiny_run: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    from lstm_music.evaluate import run as evaluate

    broken = tmp_path / "broken.weights.h5"
    shutil.copy(tiny_run / BEST, broken)
    store_metadata(broken, damage(stored_metadata(broken)))
    for run in (main, evaluate.main):
        assert run(["--checkpoint", str(broken)]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"error: {broken}") and message in line and len(line) < 400


def test_unknown_primer_notes_are_counted(tiny_run: Path, known_midi: Path, tmp_path: Path, capsys) -> None:
    from lstm_music.data.preparation import prepare_piece
    from lstm_music.data.vocab import unknown_notes

    _, _, vocabularies = load_checkpoint(tiny_run / BEST)
    from lstm_music.data.events import Piece, without_drums

    primer = Piece("known", without_drums(read_piece(known_midi).events))  # the checkpoint learned no drums
    counts = unknown_notes([prepare_piece(primer, "note", False, True)], vocabularies)
    # every pitch is in a note-level vocabulary; the whole notes and triplets are not among the chorales' rhythms
    assert counts["pitch"] == 0 and 0 < counts["rhythm"] < counts["notes"] == 9
    generate(tiny_run, tmp_path / "p.mid", "--seed", "1", "--primer", str(known_midi))
    share = counts["rhythm"] / 9
    warning = (
        "warning: the checkpoint's vocabulary cannot represent every note: "
        f"{counts['rhythm']} of 9 primer notes ({share:.1%}) have an offset or duration it lacks (read as <unk>)"
    )
    assert warning in capsys.readouterr().out


def test_a_chord_never_seen_in_training_is_read_without_unk(tiny_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    from conftest import write_tracks

    from lstm_music.data.preparation import prepare
    from lstm_music.data.tokens import note_token
    from lstm_music.streams import UNK_INDEX

    _, metadata, vocabularies = load_checkpoint(tiny_run / BEST)
    chorales = [read_piece(p) for p in sorted(tiny_data.iterdir())]
    chords = {note_of(e) for piece in chorales for e in piece.events}
    pitches = sorted({p for chord in chords for p in token_pitches(chord)})
    new = (pitches[0], pitches[len(pitches) // 2], pitches[-1])  # lowest, middle and highest pitch at once
    assert note_token(new) not in chords
    primer = write_tracks(tmp_path / "new_chord.mid", [[(0, 1, p, 0) for p in new] + [(1, 1, p, 0) for p in new]])
    [piece] = prepare([read_piece(primer)], metadata.representation, False)
    assert [note_of(e) for e in piece.events[:3]] == [note_token([p]) for p in new]
    assert UNK_INDEX not in encode_piece(piece, vocabularies)


def test_a_whole_chord_checkpoint_from_before_representations_still_generates(
    tiny_data: Path, tmp_path: Path, monkeypatch
) -> None:
    from conftest import train_args

    from lstm_music.data.encoding import decode_events
    from train import main as train_main

    flags = train_args(tiny_data, tmp_path, tmp_path / "cache", "old", "--epochs", "1", "--representation", "chord")
    assert train_main(flags) == 0
    best = tmp_path / "old" / BEST
    metadata = stored_metadata(best)
    del metadata["representation"], metadata["common_key"]  # what a checkpoint made before them holds
    store_metadata(best, metadata)
    _, _, vocabularies = load_checkpoint(best)
    assert any("." in token for token in vocabularies["note"].tokens)  # whole-chord tokens
    sampled = []
    original = Sampler.generate
    monkeypatch.setattr(
        Sampler, "generate", lambda self, *a, **k: sampled.append(original(self, *a, **k)) or sampled[-1]
    )
    out = generate(best, tmp_path / "old.mid", "--seed", "3")
    events = decode_events(sampled[0][0], vocabularies)
    assert any(len(e.pitches) > 1 for e in events)  # it still samples whole chords, and writes them as such
    expected = sorted((onset, length, p) for onset, length, pitches in absolute(playable(events)) for p in pitches)
    assert mido_notes(out) == expected


def test_a_common_key_model_continues_a_primer_in_the_primers_key(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    from conftest import train_args

    from lstm_music.data.encoding import decode_events
    from lstm_music.data.preparation import prepare, transpose_folded
    from train import main as train_main

    assert train_main(train_args(tiny_data, tmp_path, tmp_path / "cache", "c", "--epochs", "1", "--key", "common")) == 0
    run = tmp_path / "c"
    primer = shipped("bach_bwv1.6.mid")  # F major: the model hears it a fourth lower, in C
    calls = []
    original = Sampler.generate
    monkeypatch.setattr(
        Sampler, "generate", lambda self, *a, **k: calls.append((a, original(self, *a, **k))) or calls[-1][1]
    )
    out = generate(run, tmp_path / "c.mid", "--seed", "2", "--primer", str(primer))
    (_, _, _, _, fed, registers, style), sampled = calls[0]
    assert style == 0  # a checkpoint without styles samples the unlabelled mix
    _, metadata, vocabularies = load_checkpoint(run / BEST)
    assert metadata.common_key is True
    [in_c] = prepare([read_piece(primer)], "note", True)
    assert np.array_equal(fed, encode_piece(in_c, vocabularies)[1:])
    assert registers.tolist() == [piece_register(fed).tolist()]  # the continuation keeps the primer's register
    heard = decode_events(sampled[0], vocabularies)
    back = playable(transpose_folded(heard, 5))  # up a fourth, an octave lower where that would leave MIDI
    # the continuation starts where the primer's last onset lies in its 4/4 bar (the primer's bars start at 0)
    last = sum(Fraction(e.offset) for e in read_piece(primer).events)
    written = {(onset + last % 4, length, p) for onset, length, pitches in absolute(back) for p in pitches}
    assert {(onset, length, p) for onset, length, p in mido_notes(out)} == written  # moved back up a fourth
    up = generate(run, tmp_path / "up.mid", "--seed", "2", "--primer", str(primer), "--transpose", "2")
    assert np.array_equal(calls[1][1], sampled)  # the same notes, moved two semitones further
    higher = playable(transpose_folded(heard, 7))
    assert {(onset, length, p) for onset, length, p in mido_notes(up)} == {
        (onset + last % 4, length, p) for onset, length, pitches in absolute(higher) for p in pitches
    }


def test_unwritable_outputs_stop_with_one_line_and_leave_nothing(tiny_run: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    for flags, message in (
        (["--out", str(folder)], f"--out {folder}: is a folder, not a file"),  # an existing folder as the file
        (["--out", str(blocker / "x.mid")], f"--out {blocker / 'x.mid'}: {blocker} is a file, not a folder"),
        (["--output-dir", str(blocker)], f"--output-dir {blocker}: is a file, not a folder"),
    ):
        assert main(["--checkpoint", str(tiny_run), "--length", "10", *flags]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["blocker", "taken"]  # no temporary file anywhere


def test_a_primer_that_cannot_be_read_stops_with_one_line(tiny_run: Path, tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop.mid"
    loop.symlink_to(loop)
    folder = tmp_path / "folder.mid"
    folder.mkdir()
    for primer, reason in (
        (folder, "is a folder, not a file"),
        (loop, "cannot read it: Too many levels of symbolic links"),
    ):
        assert main(["--checkpoint", str(tiny_run), "--primer", str(primer), "--out", str(tmp_path / "x.mid")]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line == f"error: --primer {primer}: {reason}"
    assert not (tmp_path / "x.mid").exists()


def test_png_draws_a_piano_roll_beside_the_midi_file(tiny_run: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = generate(tiny_run, tmp_path / "roll.mid", "--seed", "4", "--png")
    picture = imread(out.with_suffix(".png"))
    height, width = picture.shape[:2]
    assert height == 500 and width >= 800  # 5 inches at 100 dpi; at least 8 inches across
    assert picture[..., :3].std() > 0.05  # bars drawn, not a blank canvas
