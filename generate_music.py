"""Generate new music as MIDI from a checkpoint made by train.py.

    python generate_music.py                                   # newest run in weights/
    python generate_music.py --checkpoint weights/RUN/best.weights.h5 --count 4 --temperature 0.9
    python generate_music.py --primer opening.mid --keep-primer --out output/continued.mid

Edit the settings below or pass them as flags (`python generate_music.py --help`).
"""

import argparse
import sys

from lstm_music.cli import EITHER, FILE, FOLDER, add_sampling_flags, add_verbose_flag, check_paths, exit_status, number
from lstm_music.midi_io import BPM_RANGE
from lstm_music.sampling import DEFAULT_TEMPERATURE

CHECKPOINT = ""  # checkpoint file or run folder; empty: best checkpoint of the newest run in WEIGHTS_DIR
WEIGHTS_DIR = "weights"
OUTPUT_DIR = "output"
LENGTH = 1000  # events per piece: notes (a 4-note chord is 4); for whole-chord checkpoints, notes and chords
COUNT = 1  # pieces, sampled together as one batch
TEMPERATURE = DEFAULT_TEMPERATURE  # 1.0 scored closest to real music (docs/BENCHMARKS.md); 0 = the most likely
TOP_K = 0  # sample only among the k most likely tokens per head; 0 = all
TOP_P = 1.0  # sample only among the most likely tokens holding this much probability
REPEATS = True  # let the piece repeat its own phrases (the checkpoint's repeat memory); False = network alone
PITCH_WINDOW = True  # keep each piece's notes near its register, as far as real pieces reach past theirs
SEED = None  # None: a new random seed each run (printed, so a piece can be made again)
STYLE = ""  # a style of the checkpoint (--list-styles shows them); "" = the unlabelled mix
TIME_SIGNATURE = ""  # e.g. "3/4" (one the checkpoint knows); "" = each piece a training piece's (or the primer's)
INSTRUMENT = ""  # General MIDI program or name for every note; "" = each note's own (piano for one instrument)
BPM = 0.0  # 0 = median tempo of the training pieces (120 if unknown)
MUSICXML = False  # also write sheet music (.musicxml) beside each MIDI file
PNG = False  # also draw each piece as a piano roll (.png)
WAV = False  # also render each piece as audio (.wav, 44.1 kHz 16-bit stereo) beside its MIDI file
SOUNDFONT = ""  # .sf2/.sf3 file for the audio; "" = the General MIDI SoundFont inside pretty_midi (TimGM6mb)
TRANSPOSE = 0  # semitones to move the output by (a model trained with --key common writes in C major or A minor)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The settings above, overridden by command-line flags."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--checkpoint", default=CHECKPOINT or None, help="checkpoint file or run folder")
    p.add_argument("--weights-dir", default=WEIGHTS_DIR, help="where to look for the newest run")
    p.add_argument("--output-dir", default=OUTPUT_DIR, help="folder for generated files")
    p.add_argument("--out", help="write one piece to exactly this path")
    p.add_argument("--length", type=number(int, 1, 100_000), default=LENGTH, help="events (notes) per piece")
    p.add_argument("--count", type=number(int, 1, 1024), default=COUNT, help="pieces to generate (one batch)")
    add_sampling_flags(p, TEMPERATURE, TOP_K, TOP_P, REPEATS, PITCH_WINDOW)
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default: new each run)")
    p.add_argument("--style", default=STYLE, help="generate this style of the checkpoint (default: the mix)")
    p.add_argument("--list-styles", action="store_true", help="print the checkpoint's styles and exit")
    p.add_argument(
        "--time-signature",
        default=TIME_SIGNATURE,
        help="the pieces' time signature, e.g. 3/4 or 6/8 (default: each a training piece's, or the primer's)",
    )
    p.add_argument("--primer", help="MIDI or score file whose events start the piece")
    p.add_argument("--keep-primer", action="store_true", help="also write the primer at the start of the output")
    p.add_argument(
        "--instrument",
        default=INSTRUMENT,
        help="play everything on this General MIDI program (0-127) or instrument name (default: the instruments "
        "the model chose; piano for a model of one instrument)",
    )
    p.add_argument(
        "--transpose", type=number(int, -127, 127), default=TRANSPOSE, help="move the generated notes by N semitones"
    )
    p.add_argument(
        "--bpm", type=number(float, *BPM_RANGE, zero=True), default=BPM, help="tempo (0: training median, else 120)"
    )
    p.add_argument("--musicxml", action="store_true", default=MUSICXML, help="also write sheet music (.musicxml)")
    p.add_argument("--png", action="store_true", default=PNG, help="also draw each piece as a piano roll (.png)")
    p.add_argument("--wav", action="store_true", default=WAV, help="also render each piece as audio (.wav)")
    p.add_argument(
        "--soundfont", default=SOUNDFONT, help="SoundFont (.sf2/.sf3) for --wav (given alone, it implies --wav)"
    )
    add_verbose_flag(p)
    args = p.parse_args(argv)
    if args.out and args.count > 1:
        p.error("--out writes one file: use --output-dir with --count")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate as the flags say; exit status 2 on unusable checkpoints, paths or settings."""
    args = parse_args(argv)

    def run() -> None:
        from lstm_music.backend import check_backend, set_verbose
        from lstm_music.generation import generate, list_styles

        inputs = {"--checkpoint": EITHER} if args.checkpoint else {"--weights-dir": FOLDER}
        outputs = {"--out": FILE} if args.out else {"--output-dir": FOLDER}
        check_paths(args, inputs | {"--primer": FILE, "--soundfont": FILE}, {} if args.list_styles else outputs)
        set_verbose(args.verbose)
        if not args.list_styles:
            check_backend()
        (list_styles if args.list_styles else generate)(args)

    from lstm_music.checkpoint import CheckpointError
    from lstm_music.generation import GenerationError
    from lstm_music.styles import StyleError

    return exit_status(run, (CheckpointError, GenerationError, StyleError))


if __name__ == "__main__":
    sys.exit(main())
