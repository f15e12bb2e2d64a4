"""Train the LSTM music model (a branch and a head per stream: note, offset, duration, and the
instrument where the pieces use several) on a folder of MIDI (or score) files.

    python train.py                              # midi_songs/ -> weights/<date>-<preset>/
    python train.py --data my_midis --max-minutes 15
    python train.py --data my_midis --parse-only # just parse and summarise

Edit the settings below or pass them as flags (`python train.py --help`).
"""

import sys

from lstm_music.cli import FILE, FOLDER, check_paths, exit_status
from lstm_music.settings import TrainSettings, parse

# The settings most often changed. Every setting is also a flag: `python train.py --help` lists them
# all, with their defaults and ranges (declared once, in lstm_music/settings.py).
SETTINGS = TrainSettings(
    data="midi_songs",  # folder of .mid/.midi (and .mxl/.musicxml/.xml/.krn/.abc) files, searched recursively
    preset="default",  # model size: small | default | original (the original design's sizes)
    max_minutes=0.0,  # stop cleanly after this many minutes (the epoch in progress is saved); 0 = no limit
    epochs=50,
    batch_size=64,  # windows per step; a GPU wants more (256 on an H100)
    weights_dir="weights",  # checkpoints go to weights/<run name>/
    run_name="",  # default: <date>-<time>-<preset>
    seed=0,  # seed of the split, the shuffling and the initial weights
)


def parse_args(argv: list[str] | None = None) -> TrainSettings:
    """`SETTINGS`, overridden by command-line flags."""
    return parse(SETTINGS, argv, __doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> int:
    """Parse or train as the flags say; exit status 2 on unusable data, paths or checkpoints."""
    settings = parse_args(argv)

    def run() -> None:
        from lstm_music.backend import check_backend, join_processes, set_verbose, split_cpu

        styles = {} if settings.styles in ("folders", "none") else {"--styles": FILE}
        outputs = {} if settings.parse_only else {"--weights-dir": FOLDER}
        check_paths(settings, {"--data": FOLDER, "--resume": FILE, **styles}, outputs)
        set_verbose(settings.verbose)
        from lstm_music.data.reading import parse_only
        from lstm_music.model.from_checkpoint import check_start
        from lstm_music.model.training import train

        if settings.parse_only:
            parse_only(settings)
            return
        check_backend()
        starts = settings.resume or settings.init_from  # from a checkpoint: a bad file or setting stops before parsing
        resumed = check_start(settings) if starts else None
        if settings.cpu_devices:
            split_cpu(settings.cpu_devices)
        if settings.processes > 1:
            join_processes(settings.coordinator, settings.processes, settings.process_id)
        train(settings, resumed=resumed)

    from lstm_music.data.corpus import DataError
    from lstm_music.data.styles import StyleError
    from lstm_music.model.checkpoint import CheckpointError

    return exit_status(run, (DataError, CheckpointError, StyleError))


if __name__ == "__main__":
    sys.exit(main())
