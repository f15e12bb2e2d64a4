"""Keys: how strongly a set of notes sits in one key, which key that is, and the shift to a common key.

The key of a piece is estimated as Krumhansl and Kessler (1982) do: its pitch-class histogram
(every note counts once) is correlated with the 24 rotations of their major and minor key profiles,
and the best correlation wins. That correlation is the piece's *key clarity*: about 0.75-0.9 for
tonal music, lower for music that wanders through keys or uses all twelve pitch classes evenly.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Krumhansl-Kessler probe-tone ratings, tonic first (Krumhansl 1990, table 2.1).
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PROFILES = np.stack([np.roll(profile, tonic) for profile in (MAJOR, MINOR) for tonic in range(12)])
COMMON_TONIC = {"major": 0, "minor": 9}  # C major and A minor: no sharps or flats


def pitch_class_counts(pitches: Iterable[int]) -> np.ndarray:
    """How many of `pitches` (MIDI numbers) fall on each of the 12 pitch classes, C first."""
    values = pitches if isinstance(pitches, np.ndarray) else list(pitches)
    return np.bincount(np.asarray(values, dtype=int) % 12, minlength=12).astype(float)


def key_correlations(counts: np.ndarray) -> np.ndarray:
    """Pearson correlation of a pitch-class histogram with the 12 major then 12 minor key profiles."""
    if counts.std() == 0:  # no notes, or every pitch class equally often: no key at all
        return np.zeros(len(PROFILES))
    centred = counts - counts.mean()
    profiles = PROFILES - PROFILES.mean(axis=1, keepdims=True)
    return profiles @ centred / (np.linalg.norm(profiles, axis=1) * np.linalg.norm(centred))


def estimate_key(pitches: Iterable[int]) -> tuple[int, str, float]:
    """(tonic pitch class, ``"major"`` or ``"minor"``, key clarity) of the notes `pitches`."""
    correlations = key_correlations(pitch_class_counts(pitches))
    best = int(np.argmax(correlations))
    return best % 12, "major" if best < 12 else "minor", float(correlations[best])


def key_clarity(pitches: Iterable[int]) -> float:
    """The best correlation of the notes' pitch-class histogram with the 24 key profiles."""
    return estimate_key(pitches)[2]


def shift_to_common_key(pitches: list[int] | np.ndarray) -> int:
    """Semitones (-6..+5) that move the notes' estimated key to C major or A minor.

    The smallest such shift is chosen, so a piece moves at most half an octave; if that would take
    a note outside MIDI's 0-127, the shift an octave the other way is used.
    """
    tonic, mode, _ = estimate_key(pitches)
    shift = (COMMON_TONIC[mode] - tonic + 6) % 12 - 6
    if len(pitches) and (min(pitches) + shift < 0 or max(pitches) + shift > 127):
        shift += 12 if shift < 0 else -12
    return shift
