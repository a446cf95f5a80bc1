"""The analysis stages and their registry.

A track's analysis is the stages of :data:`STAGES`, in that order (:mod:`.base` says what a stage
declares; :mod:`.template` is a complete example). The order is the order results are finished
in, so a stage comes after every stage it ``requires`` or ``uses``; :func:`stages` checks it.

Adding a feature or a model is one module here and one line in :data:`STAGES`: the stage's
result reaches ``analysis.json`` (its ``contract_keys``), the reports (:meth:`Stage.describe`),
the keyword rules (:meth:`Stage.features`; ``keywords/rules.toml`` may then name them) and the
sections of a storyboard (:meth:`Stage.section`), and its model's version reaches ``versions``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from midi2img.registry import load_entry
from midi2img.stages.base import (
    SWITCHED_OFF,
    Collector,
    Processor,
    Span,
    Stage,
    StageContext,
    StageSkipped,
)

__all__ = ["STAGES", "SWITCHED_OFF", "Collector", "Processor", "Span", "Stage", "StageContext",
           "StageSkipped", "feature_names", "label_feature_names", "registered", "stage",
           "stages"]

#: Every stage of the analysis, ``"module:Class"``, in the order their results are finished.
STAGES: list[str] = [
    "midi2img.stages.transcription:Transcription",
    "midi2img.stages.beats:Beats",
    "midi2img.stages.tempo:Tempo",
    "midi2img.stages.tags:Tags",
    "midi2img.stages.genre:Genre",
    "midi2img.stages.sound:Sound",
    "midi2img.stages.key:Key",
    "midi2img.stages.chords:Chords",
    "midi2img.stages.note_stats:NoteStats",
    "midi2img.stages.affect:Affect",
]


@functools.cache
def _load(entries: tuple[str, ...]) -> tuple[Stage, ...]:
    out: list[Stage] = []
    for entry in entries:
        st = load_entry(entry)()
        if not isinstance(st, Stage):
            raise TypeError(f"stage registry: {entry} is not a Stage")
        known = {s.name for s in out}
        if st.name in known:
            raise ValueError(f"stage registry: two stages are named {st.name!r}")
        late = [n for n in (*st.requires, *st.uses) if n not in known]
        if late:
            raise ValueError(f"stage registry: {st.name} reads {', '.join(late)}, which must "
                             f"come before it in STAGES")
        out.append(st)
    return tuple(out)


def stages() -> tuple[Stage, ...]:
    """The registered stages, in order (each instantiated once per registry).

    Raises:
        ValueError: two stages share a name, or a stage comes before one it reads.
    """
    return _load(tuple(STAGES))


def stage(name: str) -> Stage:
    """The registered stage ``name``.

    Raises:
        KeyError: no stage has that name.
    """
    for st in stages():
        if st.name == name:
            return st
    raise KeyError(f"no analysis stage named {name!r}; stages: "
                   f"{', '.join(s.name for s in stages())}")


def feature_names() -> frozenset[str]:
    """Every name the keyword rules may test: the track's ``duration_s`` and each stage's
    :meth:`~Stage.feature_names`."""
    return frozenset({"duration_s"}.union(*(s.feature_names() for s in stages())))


def label_feature_names() -> frozenset[str]:
    """Those of :func:`feature_names` whose values are labels (``mode = "major"``)."""
    return frozenset().union(*(s.label_names() for s in stages()))


@contextlib.contextmanager
def registered(entry: str, *, after: str | None = None) -> Iterator[Stage]:
    """Register a stage for the length of a ``with`` block (a plugin's tests, the template's).

    Args:
        entry: ``"module:Class"`` of the stage.
        after: Put it after this stage (default: last).
    """
    before = list(STAGES)
    at = len(STAGES) if after is None else next(
        i + 1 for i, e in enumerate(STAGES) if load_entry(e).name == after)
    STAGES.insert(at, entry)
    try:
        yield stage(load_entry(entry).name)
    finally:
        STAGES[:] = before
