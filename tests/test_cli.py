"""Command-line misuse: every bad number stops at the command line with one line and exit status 2."""

import pytest

import generate_music
import train
from lstm_music.evaluate import run as evaluate

MISUSE = [
    (train, ["--sequence-length", "1"], "--sequence-length: must be an integer in [2, 4096], got 1"),
    (train, ["--sequence-length", "100000"], "--sequence-length: must be an integer in [2, 4096], got 100000"),
    (train, ["--batch-size", "0"], "--batch-size: must be an integer in [1, 65536], got 0"),
    (train, ["--batch-size", "-3"], "--batch-size: must be an integer in [1, 65536], got -3"),
    (train, ["--batch-size", "2.5"], "--batch-size: must be an integer in [1, 65536], got '2.5'"),
    (train, ["--learning-rate", "-1"], "--learning-rate: must be a number in (0, 1], got -1"),
    (train, ["--learning-rate", "nan"], "--learning-rate: must be a number in (0, 1], got nan"),
    (train, ["--max-minutes", "inf"], "--max-minutes: must be a number in [0, 1e+06], got inf"),
    (train, ["--val-fraction", "1"], "--val-fraction: must be a number in [0, 1), got 1"),
    (train, ["--dropout", "nan"], "--dropout: must be a number in [0, 1), got nan"),
    (train, ["--loss-weights", "1", "inf", "1"], "--loss-weights: must be a number of at least 0, got inf"),
    (train, ["--transpose", "12"], "--transpose: must be an integer in [0, 11], got 12"),
    (train, ["--workers", "-1"], "--workers: must be an integer in [0, 1024], got -1"),
    (generate_music, ["--temperature", "nan"], "--temperature: must be a number in [0, 100], got nan"),
    (generate_music, ["--temperature", "inf"], "--temperature: must be a number in [0, 100], got inf"),
    (generate_music, ["--note-temperature", "-0.5"], "--note-temperature: must be a number in [0, 100], got -0.5"),
    (generate_music, ["--top-p", "0"], "--top-p: must be a number in (0, 1], got 0"),
    (generate_music, ["--bpm", "1e9"], "--bpm: must be 0 or a number in [4, 1000], got 1e9"),
    (generate_music, ["--bpm", "0.001"], "--bpm: must be 0 or a number in [4, 1000], got 0.001"),
    (generate_music, ["--bpm", "nan"], "--bpm: must be 0 or a number in [4, 1000], got nan"),
    (generate_music, ["--length", "1000000000"], "--length: must be an integer in [1, 100000], got 1000000000"),
    (generate_music, ["--count", "100000"], "--count: must be an integer in [1, 1024], got 100000"),
    (generate_music, ["--transpose", "200"], "--transpose: must be an integer in [-127, 127], got 200"),
    (evaluate, ["--workers", "-1"], "--workers: must be an integer in [0, 1024], got -1"),
    (evaluate, ["--generate", "-2"], "--generate: must be an integer in [0, 1024], got -2"),
    (evaluate, ["--length", "0"], "--length: must be an integer in [1, 100000], got 0"),
]


@pytest.mark.parametrize(("script", "flags", "message"), MISUSE, ids=[" ".join(m[1]) for m in MISUSE])
def test_bad_numbers_stop_with_one_line_and_exit_2(script, flags: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        script.parse_args(flags)
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(f"error: argument {message}")


def test_good_numbers_pass_as_numbers() -> None:
    settings = generate_music.parse_args(
        ["--bpm", "0", "--temperature", "0", "--length", "100000", "--transpose", "-5"]
    )
    assert (settings.bpm, settings.temperature, settings.length, settings.transpose) == (0, 0, 100000, -5)
    settings = train.parse_args(["--learning-rate", "1e-3", "--max-minutes", "0", "--val-fraction", "0"])
    assert (settings.learning_rate, settings.max_minutes, settings.val_fraction) == (1e-3, 0, 0)


@pytest.mark.parametrize("script", [train, generate_music, evaluate])
def test_every_setting_is_a_flag_with_its_help_and_the_scripts_constants_are_its_defaults(script, monkeypatch) -> None:
    from dataclasses import fields, replace

    from lstm_music.settings import ADVANCED, EvaluateSettings, parser_for

    opening = EvaluateSettings() if script is evaluate else script.SETTINGS
    parser = parser_for(opening, "")
    flags = {action.dest: action for action in parser._actions}
    for f in fields(opening):
        if f.name != "given":  # what the command line named: no flag of its own
            assert f.name in flags and len(flags[f.name].help) > 10, f.name
            assert flags[f.name].default == getattr(opening, f.name), f.name
    if script is train:  # what few users need sits in a group of its own
        advanced = next(g for g in parser._action_groups if g.title == ADVANCED)
        assert {"precision", "distribute", "processes", "cpu_devices", "embedding"} <= {
            a.dest for a in advanced._group_actions
        }
    if script is not evaluate:  # a constant edited at the top of the script is the flag's default
        monkeypatch.setattr(script, "SETTINGS", replace(script.SETTINGS, length=7) if script is generate_music
                            else replace(script.SETTINGS, epochs=7))  # fmt: skip
        parsed = script.parse_args([])
        assert (parsed.length if script is generate_music else parsed.epochs) == 7
        assert parsed.given == frozenset()
        assert "seed" in script.parse_args(["--seed", "3"]).given


@pytest.mark.parametrize(
    ("level", "verbose", "shown"),
    [(None, False, False), ("1", False, False), ("2", False, False), ("3", False, False), ("0", False, True),
     (None, True, True), ("3", True, True)],
    ids=["unset", "1", "2", "3", "0", "unset --verbose", "3 --verbose"],
)  # fmt: skip
def test_the_backends_cpp_notices_show_only_when_asked(tiny_run, tmp_path, level, verbose: bool, shown: bool) -> None:
    import os
    import subprocess
    import sys

    from conftest import ROOT

    from lstm_music.backend import NATIVE_LOG

    if shown and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("only TensorFlow prints C++ notices at start-up")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level  # 3: the usual way to silence TensorFlow, which must not bring them back
    flags = ["--checkpoint", str(tiny_run), "--out", str(tmp_path / "x.mid"), "--length", "5"]
    result = subprocess.run([sys.executable, "generate_music.py", *flags, *["--verbose"] * verbose],
                            cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    native = [line for line in result.stderr.splitlines() if NATIVE_LOG.match(line)]
    assert bool(native) == shown, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("checkpoint ")  # Python's own lines still show
