"""Tokens: the text an event's numbers take at the model's edge, in vocabularies and checkpoints.

* note: one pitch (``"C#4"``, always spelled with sharps, one token per MIDI number) or a chord of
  its sorted pitches joined by dots (``"C3.E3.G3"``), so voicings survive;
* offset and duration: an exact fraction of a quarter note, as a finite decimal where one exists
  (``"0.5"``, ``"2"``) and ``"p/q"`` otherwise (``"1/3"``);
* instrument: the General MIDI program (``"40"``, a violin) or ``"drums"``.

`event_tokens` and `token_event` turn an `events.Event` into its tokens and back; ``<unk>``, a
token the vocabulary does not hold, reads as None in its field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from ..streams import UNK
from .events import Event
from .instruments import instrument_code, instrument_token

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(midi: int) -> str:
    """Spell MIDI number `midi` with sharps and scientific octave: 60 -> ``"C4"``."""
    return f"{PITCH_NAMES[midi % 12]}{midi // 12 - 1}"


def pitch_number(name: str) -> int:
    """Inverse of `pitch_name`: ``"C#4"`` -> 61."""
    split = 2 if len(name) > 1 and name[1] == "#" else 1
    return PITCH_NAMES.index(name[:split]) + 12 * (int(name[split:]) + 1)


def note_token(pitches: Iterable[int]) -> str:
    """The token of a note (one pitch) or chord (several): sorted pitch names joined by dots."""
    return ".".join(pitch_name(p) for p in sorted(set(pitches)))


@lru_cache(maxsize=65536)
def token_pitches(token: str) -> tuple[int, ...]:
    """The sorted MIDI numbers a note token sounds."""
    return tuple(pitch_number(name) for name in token.split("."))


@lru_cache(maxsize=4096)  # a piece has few distinct times; formatting each once makes encoding cheap
def format_ql(value: Fraction) -> str:
    """Canonical text of a quarter length: exact decimal if finite (``"0.25"``), else ``"1/3"``."""
    value = Fraction(value)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest == 1:
        text = str(Decimal(value.numerator) / Decimal(value.denominator))
        return text if "E" not in text else format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return f"{value.numerator}/{value.denominator}"


@lru_cache(maxsize=4096)
def parse_ql(text: str) -> Fraction:
    """Inverse of `format_ql`."""
    return Fraction(text)


TO_TOKEN = (note_token, format_ql, format_ql, instrument_token)
FROM_TOKEN = (token_pitches, parse_ql, parse_ql, instrument_code)


def event_tokens(event: Event, streams: int = 4) -> tuple[str, ...]:
    """The tokens of `event`'s first `streams` fields (note, offset, duration, instrument); a field
    that is None is ``<unk>``."""
    return tuple(
        UNK if value is None else make(value) for make, value in zip(TO_TOKEN[:streams], event[:streams], strict=True)
    )


def token_event(tokens: Sequence[str]) -> Event:
    """The event of note, offset, duration (and instrument) tokens; ``<unk>`` reads as None, a
    missing instrument as the piano."""
    return Event(*(None if token == UNK else read(token) for read, token in zip(FROM_TOKEN, tokens, strict=False)))
