"""What every trained model shares: the split vocabulary, one evaluation record, the training
config style, and one way to load a shipped model and name its version.

Genre (:mod:`midi2img.gtzan`) and mood (:mod:`midi2img.mood`) are siblings with one skeleton, the
way mirdata gives every dataset one module layout and mir_eval every task the same verbs:

* ``dataset.py`` - the clips, the labels and the split (``train``/``valid``/``test``);
* ``features.py`` - the model's input, one function used by training and at run time;
* ``model.py`` - the model (numpy at run time, no pickle), its ``load(folder)`` and its output
  record;
* ``train.py`` - a frozen ``TrainConfig``, ``train(...)`` writing the model and its card, and
  ``evaluate(...)`` returning :class:`EvalResult` records.

A shipped model is package data under ``midi2img.models/<folder>``, listed in :data:`SHIPPED`,
loaded once per process by :func:`load_shipped` and named in ``analysis.json`` by
:func:`model_version` (the hash of its weights and its training date, from its card).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from midi2img.constants import SPLITS
from midi2img.errors import ModelError
from midi2img.registry import load_entry


def check_split(split: str) -> str:
    """Return ``split`` if it is one of :data:`~midi2img.constants.SPLITS`.

    Raises:
        ValueError: an unknown split name.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


@dataclass(frozen=True)
class EvalResult:
    """Scores of one model on one split of one dataset (genre and mood alike).

    Attributes:
        task: ``genre`` or ``mood`` (or a later model's name).
        dataset: The data set scored (``gtzan``, ``emopia``, ``vgmidi``, ...).
        split: One of :data:`~midi2img.constants.SPLITS`.
        n: Number of items scored.
        metrics: Named figures (``accuracy``, ``top3_accuracy``, ``quadrant_accuracy``,
            ``valence_pearson``, ...), rounded to 4 decimals in :meth:`to_dict`.
        labels: Class order of ``confusion`` and ``per_class_recall`` (empty for regression).
        confusion: Rows true class, columns predicted class.
        per_class_recall: Recall of each class.
    """

    task: str
    dataset: str
    split: str
    n: int
    metrics: Mapping[str, float]
    labels: tuple[str, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()
    per_class_recall: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_split(self.split)
        if self.n < 0:
            raise ValueError("n must be >= 0")
        if self.confusion and len(self.confusion) != len(self.labels):
            raise ValueError("confusion matrix and labels disagree")

    def __getitem__(self, name: str) -> float:
        """A metric by name (``result["accuracy"]``)."""
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``eval --json`` prints, one per data set)."""
        d = asdict(self)
        d["metrics"] = {k: round(float(v), 4) for k, v in self.metrics.items()}
        d["per_class_recall"] = {k: round(float(v), 4) for k, v in self.per_class_recall.items()}
        d["labels"] = list(self.labels)
        d["confusion"] = [list(r) for r in self.confusion]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict` (model cards store results this way)."""
        return cls(str(d["task"]), str(d["dataset"]), str(d["split"]), int(d["n"]),
                   dict(d["metrics"]), tuple(d.get("labels", ())),
                   tuple(tuple(r) for r in d.get("confusion", ())),
                   dict(d.get("per_class_recall", {})))


# ---- shipped models --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedModel:
    """A model that ships as package data.

    Attributes:
        name: Its name in ``versions.models`` (``genre``, ``affect``, ...).
        folder: Folder inside ``midi2img.models``.
        loader: ``"module:Class"`` whose ``Class.load(folder)`` reads the folder (no pickle), or
            None for a model with its own loader (the taggers: :func:`midi2img.tagger.load_tagger`).
        weights: Files whose bytes define the model (hashed for its version).
        card: JSON file holding the model card (with ``trained``: the training date).
        train_target: How to rebuild it.
    """

    name: str
    folder: str
    loader: str | None
    weights: tuple[str, ...]
    card: str
    train_target: str

    def path(self) -> Traversable:
        """The model's package-data folder."""
        return resources.files("midi2img.models") / self.folder

    def available(self) -> bool:
        """Whether every weights file is shipped."""
        base = self.path()
        return all((base / w).is_file() for w in self.weights)


#: Every shipped model, by name.
SHIPPED: dict[str, ShippedModel] = {
    "genre": ShippedModel("genre", "genre", "midi2img.gtzan.model:GenreMLP",
                          ("genre_mlp.npz", "genre_mlp.json"), "genre_mlp.json",
                          "make train-genre"),
    "affect": ShippedModel("affect", "mood", "midi2img.mood.model:MoodModel",
                           ("mood.npz",), "model_card.json", "make train-mood"),
    "affect_audio": ShippedModel("affect_audio", "mood_audio",
                                 "midi2img.mood.audio_model:AudioAffectModel",
                                 ("mood_audio.npz",), "model_card.json", "make train-mood"),
    "tagger": ShippedModel("tagger", "musicnn", None, ("msd_musicnn.onnx", "mtt_musicnn.onnx"),
                           "musicnn.json", "make export-musicnn"),
}


def read_weights_and_card(folder: str | Path | Traversable, weights_file: str, card_file: str,
                          *, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays of a model folder's weights file and its JSON card (``{}`` when it has none).

    Raises:
        ModelError: the weights file is missing, or either file cannot be read.
    """
    from midi2img.io import read_npz

    base = Path(folder) if isinstance(folder, str) else folder
    wfile, cfile = base / weights_file, base / card_file
    if not wfile.is_file():
        raise ModelError(f"no {what} at {base} ({weights_file} missing)")
    try:
        arrays = read_npz(wfile)
        card = json.loads(cfile.read_text()) if cfile.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the {what} from {base}: {exc}") from exc
    return arrays, card


def read_model_split(folder: Path | Traversable, split_file: str, *, what: str
                     ) -> dict[str, str]:
    """The split (clip id -> split name) a model was trained with, saved beside its weights.

    Raises:
        ModelError: the model folder has no split file (``what`` says whose split it is).
    """
    path = folder / split_file
    if not path.is_file():
        raise ModelError(f"{path} missing: {what} is unknown")
    return dict(json.loads(path.read_text()))


def _spec(name: str) -> ShippedModel:
    if name not in SHIPPED:
        raise ModelError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED)}")
    return SHIPPED[name]


def _loader(spec: ShippedModel) -> Any:
    if spec.loader is None:
        raise ModelError(f"the {spec.name} model has its own loader")
    return load_entry(spec.loader)


def load_model(name: str, folder: str | Path | None = None) -> Any:
    """The model ``name`` from ``folder`` (a training run's ``--out``), or the shipped one.

    Raises:
        ModelError: no such folder, or its files are missing or broken; no shipped model.
    """
    if folder is None:
        return load_shipped(name)
    spec = _spec(name)
    p = Path(folder).expanduser()
    if not p.is_dir():
        raise ModelError(f"{p}: no such {name} model folder")
    return _loader(spec).load(p)


@functools.cache
def load_shipped(name: str) -> Any:
    """Load a shipped model once per process.

    Raises:
        ModelError: the model is not shipped with this installation, or its files are broken.
    """
    spec = _spec(name)
    if not spec.available():
        raise ModelError(f"no {name} model is shipped with this installation (missing "
                         f"midi2img.models/{spec.folder}/{spec.weights[0]}; run "
                         f"`{spec.train_target}` in a checkout)")
    return _loader(spec).load(spec.path())


@functools.cache
def model_version(name: str) -> dict[str, str] | None:
    """``{"sha256": <12 hex of the weights>, "trained": <date>}`` of a shipped model, or None
    when it is not shipped."""
    spec = _spec(name)
    if not spec.available():
        return None
    digest = hashlib.sha256()
    base = spec.path()
    for w in spec.weights:
        digest.update((base / w).read_bytes())
    out = {"sha256": digest.hexdigest()[:12]}
    try:
        card = json.loads((base / spec.card).read_text())
        if card.get("trained"):
            out["trained"] = str(card["trained"])
    except (OSError, ValueError):
        pass
    return out
