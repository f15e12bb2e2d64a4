"""Generate new music as MIDI from a checkpoint made by train.py.

    python generate_music.py                                   # newest run in weights/
    python generate_music.py --checkpoint weights/RUN/best.weights.h5 --count 4 --temperature 0.9
    python generate_music.py --primer opening.mid --keep-primer --out output/continued.mid

Edit the settings below or pass them as flags (`python generate_music.py --help`).
"""

import sys

from lstm_music.cli import FILE, FOLDER, check_paths, exit_status
from lstm_music.settings import GenerateSettings, parse

# The settings most often changed. Every setting is also a flag: `python generate_music.py --help`
# lists them all, with their defaults and ranges (declared once, in lstm_music/settings.py).
SETTINGS = GenerateSettings(
    checkpoint=None,  # checkpoint file or run folder; None: the best checkpoint of the newest run in weights/
    output_dir="output",
    length=1000,  # events per piece: notes (a 4-note chord is 4); for whole-chord checkpoints, notes and chords
    count=1,  # pieces, sampled together as one batch
    temperature=1.0,  # 1.0 scored closest to real music (docs/BENCHMARKS.md); 0 = the most likely
    seed=None,  # None: a new random seed each run (printed, so a piece can be made again)
    style="",  # a style of the checkpoint (--list-styles shows them); "" = the unlabelled mix
    time_signature="",  # e.g. "3/4" (one the checkpoint knows); "" = each piece a training piece's
    instrument="",  # General MIDI program or name for every note; "" = each note's own (piano for one instrument)
)


def parse_args(argv: list[str] | None = None) -> GenerateSettings:
    """`SETTINGS`, overridden by command-line flags."""
    return parse(SETTINGS, argv, __doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> int:
    """Generate as the flags say; exit status 2 on unusable checkpoints, paths or settings."""
    settings = parse_args(argv)

    def run() -> None:
        from lstm_music.backend import check_backend, set_verbose
        from lstm_music.generate.generation import generate, list_styles

        inputs = settings.path_flags()
        outputs = {"--out": FILE} if settings.out else {"--output-dir": FOLDER}
        check_paths(settings, inputs | {"--primer": FILE, "--soundfont": FILE}, {} if settings.list_styles else outputs)
        set_verbose(settings.verbose)
        if not settings.list_styles:
            check_backend()
        (list_styles if settings.list_styles else generate)(settings)

    from lstm_music.data.styles import StyleError
    from lstm_music.generate.generation import GenerationError
    from lstm_music.model.checkpoint import CheckpointError

    return exit_status(run, (CheckpointError, GenerationError, StyleError))


if __name__ == "__main__":
    sys.exit(main())
