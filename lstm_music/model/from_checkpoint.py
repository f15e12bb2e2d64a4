"""A run that starts from a checkpoint: `--resume` continues its run, `--init-from` fine-tunes it.

Either keeps the checkpoint's model and data settings (`check_start`). A fine-tuning run keeps its
architecture, vocabularies and time signatures, so a token of the checkpoint keeps its index (a
pitch or rhythm it never saw is `<unk>`), and adds the new folder's styles as rows of the style
embedding that start as the checkpoint's unlabelled one. It trains with a fresh optimizer from
epoch 0, at a lower learning rate and patience than a run from scratch (`fine_tuning_settings`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cli import SettingError
from ..data.styles import style_counts

if TYPE_CHECKING:
    from ..data.events import Piece
    from ..settings import TrainSettings
    from .checkpoint import Metadata


def recorded_settings(metadata: Metadata) -> dict:
    """The value each model or data flag had in the run a checkpoint's `metadata` records, for the
    flags a run from a checkpoint cannot change (`check_start`); None where the checkpoint records none."""
    model = metadata.model
    recorded = {name: model.get(name) for name in ("embedding", "branch_units", "dense_units", "head_units", "dropout")}
    return recorded | {
        "preset": metadata.preset,
        "trunk_units": model.get("trunk_units"),
        "heads": None if "conditioned" not in model else ("conditioned" if model["conditioned"] else "independent"),
        "instrument_first": model.get("instrument_first"),
        "register": model.get("register"),
        "representation": metadata.representation,
        "key": "common" if metadata.common_key else "keep",
        "instruments": "separate" if metadata.instruments else "merge",
        "drums": metadata.drums,
        "min_count": metadata.min_count,
        "meter": bool(metadata.meters),
    }


def start_path(settings: TrainSettings) -> Path:
    """The checkpoint file a run starts from: `--resume`'s, or the one `--init-from` names (a file, a
    run folder, or `base`: the shipped base model)."""
    from .checkpoint import resolve_checkpoint

    return Path(settings.resume) if settings.resume else resolve_checkpoint(settings.init_from)


def check_start(settings: TrainSettings) -> Metadata:
    """The metadata of the `--resume` or `--init-from` checkpoint, read once for the whole run;
    `CheckpointError` if it names no checkpoint of this toolkit; `SettingError` naming the first flag
    given on the command line that asks for another model or data setting than the checkpoint's (a
    run from a checkpoint keeps its checkpoint's: silently ignoring the flag would mislead)."""
    from .checkpoint import read_metadata

    option, path = ("--resume", settings.resume) if settings.resume else ("--init-from", settings.init_from)
    metadata = read_metadata(start_path(settings))
    recorded = recorded_settings(metadata)
    for name, value in recorded.items():
        asked = getattr(settings, name)
        same = asked == value or (name == "instruments" and asked == "auto")  # auto: whatever the data said
        if name in settings.given and not same:
            flag = f"--{name.replace('_', '-')}"
            shown = " ".join(map(str, asked)) if isinstance(asked, list) else asked
            raise SettingError(
                f"{flag} {shown}: {option} {path} was trained with {value}; a run from a checkpoint keeps its "
                f"model and data settings (leave {flag} out, or train from scratch)"
            )
    return metadata


# Measured fine-tuning the base on folders of collections it never heard (docs/BENCHMARKS.md, "The base
# model and fine-tuning"): 5e-4 scored better held out than 1e-3 and 2e-3, and a patience of 6 let a
# folder of 10 pieces overfit its one validation piece.
LEARNING_RATE = 5e-4
PATIENCE = 3


def fine_tuning_settings(settings: TrainSettings) -> TrainSettings:
    """`settings` with the fine-tuning learning rate and patience where a run `--init-from` a
    checkpoint did not set them itself."""
    if not settings.init_from:
        return settings
    chosen = {"learning_rate": LEARNING_RATE, "patience": PATIENCE}
    return replace(settings, **{name: value for name, value in chosen.items() if name not in settings.given})


def grown_styles(known: list[str], pieces: list[Piece]) -> list[str]:
    """The styles of a checkpoint (`known`, whose indices stay) followed by the styles of `pieces`
    it does not know, most pieces first; none where the checkpoint has no style input (its trunk
    reads no style vector, so the new folder trains unlabelled)."""
    if not known:
        return []
    return known + [style for style in style_counts(pieces) if style not in known]


def transfer(source, target) -> None:
    """Give `target` (the same network as `source`, maybe with more styles) every weight of `source`:
    a style embedding with more rows keeps the source's and starts each new row as its row 0 (the
    unlabelled style), so the new model computes what the source did until it trains."""
    for old, new in zip(source.weights, target.weights, strict=True):  # built alike: the same order
        value = np.asarray(old.numpy())
        if tuple(new.shape) != value.shape:  # the style embedding: (styles, embedding)
            value = np.concatenate([value, np.repeat(value[:1], new.shape[0] - value.shape[0], axis=0)])
        new.assign(value)
