"""Instruments: their numbers, General MIDI names, tokens and MIDI channels.

An instrument is the General MIDI program (0-127) a note sounds with (40 is the violin), or `DRUMS`
for percussion (MIDI channel 10, whose note numbers are drum sounds, not pitches). A track or part
that names no program is the piano, 0. When all tracks are merged into one instrument
(`train.py --instruments merge`, and every model without an instrument stream) the notes carry 0.
Its token, in the instrument stream's vocabulary and in checkpoints, is the number as text, or
``"drums"``.
"""

from __future__ import annotations

PIANO = 0
DRUMS = 128  # after every program, so drums sort last
DRUMS_TOKEN = "drums"
PERCUSSION_CHANNEL = 10  # General MIDI's percussion channel, counted from 1 (9 in MIDI messages)

GM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer", "Drawbar Organ",
    "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics", "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs", "Synth Voice",
    "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe",
    "English Horn", "Bassoon", "Clarinet", "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle",
    "Shakuhachi", "Whistle", "Ocarina", "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)",
    "Lead 4 (chiff)", "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
    "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)",
    "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal", "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring",
    "Helicopter", "Applause", "Gunshot",
)  # fmt: skip


def played_on(program: int, channel: int) -> int:
    """The instrument of a note played with General MIDI `program` on MIDI `channel` (1-16)."""
    return DRUMS if channel == PERCUSSION_CHANNEL else program


def instrument_token(instrument: int) -> str:
    """The token of an instrument: ``"40"``, ``"drums"``."""
    return DRUMS_TOKEN if instrument == DRUMS else str(instrument)


def instrument_code(token: str) -> int:
    """The instrument of a token (`instrument_token`'s inverse)."""
    return DRUMS if token == DRUMS_TOKEN else int(token)


def program(instrument: int) -> int:
    """The General MIDI program of an instrument (0 for drums, which have no program)."""
    return 0 if instrument == DRUMS else instrument


def instrument_name(instrument: int) -> str:
    """A human name of an instrument: 40 -> ``"Violin"``, `DRUMS` -> ``"Drums"``."""
    return "Drums" if instrument == DRUMS else GM_NAMES[instrument]


def family(instrument: int) -> int:
    """The General MIDI family of an instrument (0-15: pianos, chromatic percussion, organs, ...;
    16 for drums): eight programs each."""
    return instrument // 8  # drums: 16


# An instrument is learned when it plays at least this share of a collection's notes. A part of a
# quartet or a three-track song holds 10-40%; an arranger's second piano program, an occasional
# doubling or a sound effect 0-2%, which a listener does not hear as another part and which would
# only add a stream that the model has too few notes to learn.
REAL_SHARE = 0.05


def instrument_plan(counts: dict[int, int], mode: str, share: float = REAL_SHARE) -> tuple[bool, dict[int, int]]:
    """Whether a model of music whose instruments play `counts` notes learns the instrument stream,
    and which instruments play as another (``{from: to}``). ``"separate"``: always, each apart;
    ``"merge"``: never; ``"auto"``: when at least two instruments each play `share` of the notes.
    Then a rarer instrument plays as the most common learned one of its General MIDI family, or
    else as the most common learned one. Drums, whose numbers are sounds, are learned whenever the
    music has them (with the most common pitched instrument beside them)."""
    if mode in ("separate", "merge"):
        return mode == "separate", {}
    total = sum(counts.values())
    pitched = sorted((t for t in counts if t != DRUMS), key=lambda t: -counts[t])
    kept = [t for t in pitched if counts[t] >= share * total] or pitched[:1]
    if len(kept) + (DRUMS in counts) < 2:
        return False, {}
    heirs = {t: next((k for k in kept if family(k) == family(t)), kept[0]) for t in pitched if t not in kept}
    return True, heirs


def channels(instruments: list[int]) -> dict[int, int]:
    """A MIDI channel (0-15, as in messages) for each instrument: drums on 9 (General MIDI's channel
    10), pitched instruments on the others in General MIDI order; beyond 15 of them channels are
    shared, each keeping its own track and program change."""
    pitched = [i for i in sorted(set(instruments)) if i != DRUMS]
    free = [c for c in range(16) if c != PERCUSSION_CHANNEL - 1]
    out = {instrument: free[i % len(free)] for i, instrument in enumerate(pitched)}
    if DRUMS in instruments:
        out[DRUMS] = PERCUSSION_CHANNEL - 1
    return out
