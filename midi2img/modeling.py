"""What every trained model shares: the split vocabulary, one evaluation record, one model card
(one writer, one reader), and one way to load a model folder and name a shipped model's version.

Genre (:mod:`midi2img.gtzan`) and mood (:mod:`midi2img.mood`) are siblings with one skeleton, the
way mirdata gives every dataset one module layout and mir_eval every task the same verbs:

* ``dataset.py`` - the clips, the labels and the split (``train``/``valid``/``test``);
* ``features.py`` - the model's input, one function used by training and at run time;
* ``model.py`` - the model (numpy at run time, no pickle): ``from_arrays(arrays, card)`` builds
  it from its weights file, ``to_arrays()`` gives them back, and its output record;
* ``train.py`` - a frozen ``TrainConfig``, ``train(...)`` writing the model and its
  :class:`ModelCard` (:func:`write_card`), and ``evaluate(...)`` returning :class:`EvalResult`
  records.

Every figure a card holds is measured by the training run that writes it (or, for an earlier
model scored on the same test split, carried over from the card it replaces: :class:`Scoring`);
none is written into source code.

A shipped model is package data under ``midi2img.models/<folder>``, listed in :data:`SHIPPED`.
:func:`load_model` reads any model folder (a training run's ``--out`` or the shipped one) with
:func:`read_weights_and_card`; :func:`load_shipped` loads a shipped model once per process and
:func:`model_version` names it in ``analysis.json`` (the hash of its weights and its training
date, from its card).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from midi2img.constants import SPLITS
from midi2img.errors import ModelError
from midi2img.registry import load_entry

#: The model card beside every model's weights: the JSON record and its Markdown rendering.
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"


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


# ---- model cards -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CardSection:
    """One titled section of a card's prose (Markdown), written by the training run.

    Attributes:
        title: Heading (``##``); empty for paragraphs under the card's title.
        body: Markdown text. Any figure in it was measured by the run that wrote the card.
    """

    title: str
    body: str


@dataclass(frozen=True)
class Scoring:
    """An earlier model's scores on the test split, kept on the card of the model that
    replaced it, so that a card says how often its test split was looked at.

    Attributes:
        trained: Training date of the earlier model.
        results: Its test results.
        note: What changed after it (empty when unknown).
    """

    trained: str
    results: tuple[EvalResult, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"trained": self.trained, "results": [r.to_dict() for r in self.results],
                "note": self.note}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scoring:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["trained"]), tuple(EvalResult.from_dict(r) for r in d["results"]),
                   str(d.get("note", "")))


@dataclass(frozen=True)
class ModelCard:
    """What a model is, what it was trained on and how it scored: the one card shape of every
    model (written as ``model_card.json`` and rendered as ``MODEL_CARD.md``).

    Attributes:
        model: The model's name in :data:`SHIPPED` (``genre``, ``affect``, ``affect_audio``).
        name: Human-readable title.
        task: What it predicts, in one sentence.
        trained: Training date (ISO ``YYYY-MM-DD``).
        data: Per data set: its source, licence and split (counts, how the split was made).
        config: The training configuration (``asdict`` of the trainer's ``TrainConfig``).
        results: Its scores, test first.
        versions: Library versions of the training run.
        licence: The model's licence.
        notes: Prose sections of the Markdown card (architecture, calibration, limits, ...).
        details: Model-specific figures and facts the code reads back (calibration maps,
            decision thresholds, cross-validation tables, feature names, ...).
        history: Earlier models scored on the same test split (oldest first).
    """

    model: str
    name: str
    task: str
    trained: str
    data: Mapping[str, Any]
    config: Mapping[str, Any]
    results: tuple[EvalResult, ...]
    versions: Mapping[str, str]
    licence: str = ""
    notes: tuple[CardSection, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Scoring, ...] = ()

    def __post_init__(self) -> None:
        try:
            _dt.date.fromisoformat(self.trained)
        except (TypeError, ValueError):
            raise ValueError(f"trained must be an ISO date, got {self.trained!r}") from None
        if not self.model or not self.name:
            raise ValueError("a model card needs the model's name and a title")
        keys = [(r.dataset, r.split) for r in self.results]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a model card holds one result per data set and split: {keys}")

    def result(self, dataset: str, split: str) -> EvalResult:
        """The result on ``split`` of ``dataset``.

        Raises:
            KeyError: the card holds no such result.
        """
        for r in self.results:
            if (r.dataset, r.split) == (dataset, split):
                return r
        raise KeyError(f"the {self.model} card has no {dataset} {split} result")

    def results_by(self) -> dict[tuple[str, str], EvalResult]:
        """The results by ``(dataset, split)``."""
        return {(r.dataset, r.split): r for r in self.results}

    def test_results(self) -> tuple[EvalResult, ...]:
        """The results on the test split."""
        return tuple(r for r in self.results if r.split == "test")

    def with_history(self, previous: ModelCard | None, note: str = "") -> ModelCard:
        """This card, carrying over ``previous``'s history of test scorings, plus ``previous``
        itself when it scored the test split with other figures (a retraining that gives the
        same figures scored the same model, and adds nothing). ``note`` says what changed;
        by default, the config and library versions that differ."""
        if previous is None or previous.model != self.model:
            return self
        history = list(previous.history)
        old = {(r.dataset, r.split): r.to_dict() for r in previous.test_results()}
        new = {(r.dataset, r.split): r.to_dict() for r in self.test_results()}
        if old and old != new:
            history.append(Scoring(previous.trained, previous.test_results(),
                                   note or self._changes_since(previous)))
        return replace(self, history=tuple(history))

    def _changes_since(self, previous: ModelCard) -> str:
        changed = [f"{k} {json.dumps(_jsonable(previous.config.get(k)))} -> "
                   f"{json.dumps(_jsonable(v))}" for k, v in self.config.items()
                   if _jsonable(previous.config.get(k)) != _jsonable(v)]
        changed += [f"{k} {previous.versions.get(k)} -> {v}" for k, v in self.versions.items()
                    if previous.versions.get(k) != v]
        if not changed:
            return "retrained with the same config and library versions (the code changed)"
        return "retrained with " + "; ".join(changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``model_card.json``)."""
        return {"model": self.model, "name": self.name, "task": self.task,
                "trained": self.trained, "data": _jsonable(self.data),
                "config": _jsonable(self.config),
                "results": [r.to_dict() for r in self.results],
                "versions": dict(self.versions), "licence": self.licence,
                "notes": [{"title": s.title, "body": s.body} for s in self.notes],
                "details": _jsonable(self.details),
                "history": [h.to_dict() for h in self.history]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelCard:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            return cls(str(d["model"]), str(d["name"]), str(d["task"]), str(d["trained"]),
                       dict(d["data"]), dict(d["config"]),
                       tuple(EvalResult.from_dict(r) for r in d["results"]),
                       {str(k): str(v) for k, v in d["versions"].items()},
                       str(d.get("licence", "")),
                       tuple(CardSection(str(s["title"]), str(s["body"]))
                             for s in d.get("notes", ())),
                       dict(d.get("details", {})),
                       tuple(Scoring.from_dict(h) for h in d.get("history", ())))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed model card ({type(exc).__name__}: {exc})") from None

    def markdown(self) -> str:
        """The human-readable card (``MODEL_CARD.md``), rendered from this record alone."""
        out = [f"# {self.name}", "", f"{self.task}. Trained {self.trained}.", ""]
        for s in self.notes:
            if s.title:
                out += [f"## {s.title}", ""]
            out += [s.body.strip(), ""]
        out += ["## Data", "", *_bullets(self.data), ""]
        out += ["## Results", "", *_results_md(self.results)]
        if self.history:
            out += ["## Earlier scorings of the test split", "",
                    "The test split was scored by these earlier models too (oldest first); "
                    "the results above are this model's.", "",
                    "| trained | data set | figures | what changed after it |",
                    "|---|---|---|---|"]
            for h in self.history:
                for r in h.results:
                    figures = ", ".join(f"{k} {v:.3f}" for k, v in r.metrics.items())
                    out.append(f"| {h.trained} | {r.dataset} (n = {r.n}) | {figures} | "
                               f"{h.note} |")
            out.append("")
        if self.licence:
            out += ["## Licence", "", self.licence, ""]
        out += ["## Configuration", "", "| option | value |", "|---|---|"]
        out += [f"| {k} | `{json.dumps(_jsonable(v))}` |" for k, v in self.config.items()]
        out += ["", "## Versions", "",
                ", ".join(f"{k} {v}" for k, v in self.versions.items()) + ".", ""]
        return "\n".join(out)


def _jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers (what JSON reads
    back), so that a card equals itself after a round trip."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _bullets(value: Mapping[str, Any], indent: str = "") -> list[str]:
    lines = []
    for k, v in value.items():
        if isinstance(v, Mapping):
            lines.append(f"{indent}- {k}:")
            lines += _bullets(v, indent + "  ")
        elif isinstance(v, list | tuple):
            lines.append(f"{indent}- {k}: {', '.join(str(x) for x in v)}")
        else:
            lines.append(f"{indent}- {k}: {v}")
    return lines


def _results_md(results: Sequence[EvalResult]) -> list[str]:
    """One table per data set (rows metrics, columns splits), then each test confusion."""
    out: list[str] = []
    datasets = list(dict.fromkeys(r.dataset for r in results))
    for ds in datasets:
        rs = [r for r in results if r.dataset == ds]
        names = list(dict.fromkeys(k for r in rs for k in r.metrics))
        out += [f"| {ds} | " + " | ".join(f"{r.split} (n = {r.n})" for r in rs) + " |",
                "|---|" + "---|" * len(rs)]
        out += [f"| {k} | " + " | ".join(f"{r.metrics[k]:.3f}" if k in r.metrics else "-"
                                         for r in rs) + " |" for k in names]
        out.append("")
    for r in results:
        if r.split != "test" or not r.confusion:
            continue
        out += [f"Confusion on {r.dataset} {r.split} (rows true, columns predicted) and "
                f"recall:", "",
                "| | " + " | ".join(r.labels) + " | recall |",
                "|---|" + "---|" * (len(r.labels) + 1)]
        out += [f"| {lab} | " + " | ".join(str(x) for x in row)
                + f" | {r.per_class_recall.get(lab, 0.0):.3f} |"
                for lab, row in zip(r.labels, r.confusion, strict=True)]
        out.append("")
    return out


def library_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and each installed package's (``"not installed"`` otherwise), for a
    card's ``versions``."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def today() -> str:
    """Today's date (UTC) as a card's ``trained``."""
    return _dt.datetime.now(_dt.UTC).date().isoformat()


def write_card(folder: str | Path, card: ModelCard) -> None:
    """Write ``model_card.json`` and the ``MODEL_CARD.md`` rendered from it (from what the JSON
    holds, figures rounded as stored, so that :func:`read_card` renders the same text),
    atomically."""
    from midi2img.io import atomic_write_text

    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    record = json.loads(json.dumps(card.to_dict()))
    atomic_write_text(base / CARD_JSON, json.dumps(record, indent=1) + "\n")
    atomic_write_text(base / CARD_MARKDOWN, ModelCard.from_dict(record).markdown())


def read_card(folder: str | Path | Traversable) -> ModelCard:
    """The model card of a model folder.

    Raises:
        ModelError: the folder has no card, or it cannot be read.
    """
    base = Path(folder) if isinstance(folder, str) else folder
    path = base / CARD_JSON
    if not path.is_file():
        raise ModelError(f"no model card at {base} ({CARD_JSON} missing)")
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model card {path}: {exc} (a card of an older "
                         f"midi2img? retrain the model)") from exc


def previous_card(folder: str | Path) -> ModelCard | None:
    """The card of a model folder a training run is about to replace, or None when there is
    none (a new folder, or one without a readable card)."""
    try:
        return read_card(folder)
    except ModelError:
        return None


# ---- shipped models --------------------------------------------------------------------------


class LoadableModel(Protocol):
    """What :func:`load_model` needs of a model class (or, for an exported network that reads
    its own folder, a ``load(folder)`` class method instead: madmom's key, chord and beat
    networks)."""

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: ModelCard | None) -> Any:
        """The model from the arrays of its weights file and its card."""
        ...


@dataclass(frozen=True)
class ShippedModel:
    """A model that ships as package data.

    Attributes:
        name: Its name in ``versions.models`` (``genre``, ``affect``, ...).
        folder: Folder inside ``midi2img.models``.
        loader: ``"module:Class"`` whose ``Class.from_arrays(arrays, card)`` builds the model
            (:class:`LoadableModel`), or None for a model with its own loader (the taggers:
            :func:`midi2img.tagger.load_tagger`).
        weights: Files whose bytes define the model (hashed for its version); the first is the
            ``.npz`` its loader reads.
        card: JSON file holding the model card (with ``trained``: the training date).
        train_target: How to rebuild it.
        package: The package whose data holds ``folder`` (a plugin ships its models in its own
            package).
    """

    name: str
    folder: str
    loader: str | None
    weights: tuple[str, ...]
    card: str
    train_target: str
    package: str = "midi2img.models"

    def path(self) -> Traversable:
        """The model's package-data folder."""
        return resources.files(self.package) / self.folder

    def available(self) -> bool:
        """Whether every weights file is shipped."""
        base = self.path()
        return all((base / w).is_file() for w in self.weights)


#: Every shipped model, by name.
SHIPPED: dict[str, ShippedModel] = {
    "genre": ShippedModel("genre", "genre", "midi2img.gtzan.model:GenreMLP",
                          ("genre_mlp.npz",), CARD_JSON, "make train-genre"),
    "affect": ShippedModel("affect", "mood", "midi2img.mood.model:MoodModel",
                           ("mood.npz",), CARD_JSON, "make train-mood"),
    "affect_audio": ShippedModel("affect_audio", "mood_audio",
                                 "midi2img.mood.audio_model:AudioAffectModel",
                                 ("mood_audio.npz",), CARD_JSON, "make train-mood"),
    "tagger": ShippedModel("tagger", "musicnn", None, ("msd_musicnn.onnx", "mtt_musicnn.onnx"),
                           "musicnn.json", "make export-musicnn"),
    "key": ShippedModel("key", "madmom", "midi2img.features.audio_key:KeyModel",
                        ("key_cnn.onnx", "key_cnn.npz"), "madmom.json", "make export-madmom"),
    "chords": ShippedModel("chords", "madmom", "midi2img.features.audio_chords:ChordModel",
                           ("chords_cnnfeat.onnx", "chords_cnn.npz"), "madmom.json",
                           "make export-madmom"),
    "beats": ShippedModel("beats", "madmom", "midi2img.stages.beats:ShippedBeatModel",
                          ("downbeats_frontend.npz",
                           *(f"downbeats_blstm_{i}.onnx" for i in range(1, 9))),
                          "madmom.json", "make export-madmom"),
}


def read_weights_and_card(folder: str | Path | Traversable, weights_file: str,
                          card_file: str = CARD_JSON, *, what: str
                          ) -> tuple[dict[str, np.ndarray], ModelCard | None]:
    """The arrays of a model folder's weights file (no pickle) and its card (None when the
    folder has none).

    Raises:
        ModelError: the weights file is missing, or either file cannot be read.
    """
    from midi2img.io import read_npz

    base = Path(folder) if isinstance(folder, str) else folder
    wfile = base / weights_file
    if not wfile.is_file():
        raise ModelError(f"no {what} at {base} ({weights_file} missing)")
    try:
        arrays = read_npz(wfile)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the {what} from {base}: {exc}") from exc
    card = read_card(base) if (base / card_file).is_file() else None
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


def _build(spec: ShippedModel, folder: Path | Traversable) -> Any:
    if spec.loader is None:
        raise ModelError(f"the {spec.name} model has its own loader")
    what = f"{spec.name} model"
    cls: Any = load_entry(spec.loader)
    if not hasattr(cls, "from_arrays"):  # an exported network that reads its own folder
        return cls.load(folder)
    arrays, card = read_weights_and_card(folder, spec.weights[0], spec.card, what=what)
    if card is not None and card.model != spec.name:
        raise ModelError(f"{folder} holds a {card.model} model, not a {spec.name} model")
    try:
        return cls.from_arrays(arrays, card)
    except (ValueError, KeyError, IndexError) as exc:
        raise ModelError(f"cannot load the {what} from {folder}: {exc}") from exc


def load_model(name: str, folder: str | Path | Traversable | None = None) -> Any:
    """The model ``name`` from ``folder`` (a training run's ``--out``), or the shipped one.

    Raises:
        ModelError: no such folder, or its files are missing or broken; no shipped model.
    """
    if folder is None:
        return load_shipped(name)
    spec = _spec(name)
    if isinstance(folder, str | Path):
        p = Path(folder).expanduser()
        if not p.is_dir():
            raise ModelError(f"{p}: no such {name} model folder")
        return _build(spec, p)
    return _build(spec, folder)


@functools.cache
def load_shipped(name: str) -> Any:
    """Load a shipped model once per process.

    Raises:
        ModelError: the model is not shipped with this installation, or its files are broken.
    """
    spec = _spec(name)
    if not spec.available():
        raise ModelError(f"no {name} model is shipped with this installation (missing "
                         f"{spec.package}/{spec.folder}/{spec.weights[0]}; run "
                         f"`{spec.train_target}` in a checkout)")
    return _build(spec, spec.path())


def save_weights(folder: str | Path, name: str, arrays: Mapping[str, np.ndarray], *,
                 compress: bool = True) -> None:
    """Write the weights file of model ``name`` into ``folder`` atomically (the same arrays
    give the same bytes, and so the same version)."""
    from midi2img.io import atomic_write_bytes, npz_bytes

    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(base / _spec(name).weights[0], npz_bytes(dict(arrays), compress=compress))


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
