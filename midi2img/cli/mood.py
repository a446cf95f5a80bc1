"""``midi2img mood``: train, evaluate and apply the valence-arousal models.

Two models: ``symbolic`` (notes of a MIDI file; EMOPIA + VGMIDI) and ``audio`` (the sound and the
musicnn tags of a recording; emotion4q). Same verbs and options as ``midi2img genre`` (its
sibling), plus ``--model-kind``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from midi2img.cli.options import (
    CacheOpt,
    DataOpt,
    ForceOpt,
    JsonOpt,
    ModelDirOpt,
    QuietOpt,
    SeedOpt,
    TrackArg,
    TrainOutOpt,
)

app = typer.Typer(help="Valence-arousal (mood) models: train them, evaluate them, score a track.",
                  no_args_is_help=True)

#: The model kinds and their shipped-model names in :data:`midi2img.modeling.SHIPPED`.
KINDS = {"symbolic": "affect", "audio": "affect_audio"}

KindOpt = Annotated[Literal["symbolic", "audio"], typer.Option(
    "--model-kind", help="symbolic: notes of MIDI (EMOPIA + VGMIDI); audio: recordings "
    "(emotion4q).")]
EvalKindOpt = Annotated[Literal["all", "symbolic", "audio"], typer.Option(
    "--model-kind", help="Which model to score (all: both shipped models; with --model, the "
    "kind of that folder).")]


def _folder_kind(folder: Path) -> str:
    """The kind of model a folder holds (from its weights file)."""
    from midi2img.errors import ModelError
    from midi2img.mood.audio_model import WEIGHTS_FILE as AUDIO_WEIGHTS
    from midi2img.mood.model import WEIGHTS_FILE as SYMBOLIC_WEIGHTS

    if (folder / AUDIO_WEIGHTS).is_file():
        return "audio"
    if (folder / SYMBOLIC_WEIGHTS).is_file():
        return "symbolic"
    raise ModelError(f"{folder}: no mood model there ({SYMBOLIC_WEIGHTS} or {AUDIO_WEIGHTS})")


@app.command()
def train(
    out: TrainOutOpt,
    data: DataOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    cache: CacheOpt = None,
    kind: KindOpt = "symbolic",
) -> None:
    """Train one model into OUT and score its test split once: symbolic (EMOPIA + VGMIDI; valid
    for the card's figures) or audio (emotion4q; artist-grouped CV for the card's figures).
    `make train-mood` trains both."""
    from midi2img.config import require_data_dir
    from midi2img.io import StagedDir
    from midi2img.modeling import previous_card

    previous = previous_card(out)  # the model --force replaces: its card's test scorings stay
    if kind == "audio":
        from midi2img.mood.train_audio import AudioTrainConfig
        from midi2img.mood.train_audio import train as run_audio

        root = require_data_dir(data, "emotion4q")
        with StagedDir(out, force=force) as staging:
            results = run_audio(root, staging, AudioTrainConfig(seed=seed), cache=cache,
                                log=lambda s: typer.echo(s, err=True), previous=previous)
    else:
        from midi2img.mood.train import TrainConfig
        from midi2img.mood.train import train as run

        root = require_data_dir(data, "emopia", "vgmidi")
        with StagedDir(out, force=force) as staging:
            results = run(root, staging, TrainConfig(seed=seed), cache=cache,
                          log=lambda s: typer.echo(s, err=True), previous=previous)
    typer.echo(f"model written to {out}")
    for r in results:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in r.metrics.items())
        typer.echo(f"{r.dataset} {r.split} n={r.n}: {figures}")


@app.command("eval")
def evaluate(
    data: DataOpt = None,
    model: ModelDirOpt = None,
    split: Annotated[Literal["valid", "test"], typer.Option(
        "--split", help="test: EMOPIA's official test split, the model's VGMIDI test pieces, "
        "emotion4q's held-out artists; valid: EMOPIA's valid split, VGMIDI's valid pieces, "
        "the artist-grouped CV on emotion4q's train part.")] = "test",
    as_json: JsonOpt = False,
    cache: CacheOpt = None,
    kind: EvalKindOpt = "all",
) -> None:
    """Quadrant/valence/arousal accuracy on EMOPIA and correlations on VGMIDI (symbolic model),
    accuracy and calibration on emotion4q (audio model)."""
    from midi2img.config import require_data_dir
    from midi2img.modeling import SHIPPED, load_model

    if model is not None:
        folder_kind = _folder_kind(model)
        if kind not in ("all", folder_kind):
            from midi2img.errors import InputError

            raise InputError(f"{model} holds a {folder_kind} model, not a {kind} one")
        kinds = [folder_kind]
    else:
        kinds = ["symbolic", "audio"] if kind == "all" else [kind]
    results = []
    for k in kinds:
        folder = model if model is not None else SHIPPED[KINDS[k]].path()
        net = load_model(KINDS[k], model)
        if k == "symbolic":
            from midi2img.mood.train import evaluate as score
            from midi2img.mood.train import load_vgmidi_split

            root = require_data_dir(data, "emopia", "vgmidi")
            results += score(net, root, vg_split=load_vgmidi_split(folder), cache=cache,
                             split=split)
        else:
            from midi2img.mood.train_audio import evaluate as score_audio
            from midi2img.mood.train_audio import load_emotion4q_split

            root = require_data_dir(data, "emotion4q")
            results += score_audio(net, root, split_map=load_emotion4q_split(folder),
                                   cache=cache, split=split)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results]))
        return
    for r in results:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in r.metrics.items())
        typer.echo(f"{r.dataset} {r.split} (n={r.n}): {figures}")


@app.command()
def predict(
    track: TrackArg,
    model: ModelDirOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Valence, arousal and quadrant of a track, exactly as ``keywords`` computes them."""
    from midi2img.cli.track import analyse
    from midi2img.errors import InputError

    result = analyse(track, quiet=quiet, use_genre=False, affect_model=model)
    est = result.affect
    if est is None:
        raise InputError(f"{track}: no affect ({result.omitted.get('affect', 'unknown reason')})")
    if as_json:
        typer.echo(json.dumps(est.to_dict()))
    else:
        extra = "" if est.confidence is None else f"  confidence {est.confidence:.2f}"
        model_name = "" if est.model is None else f"  ({est.model} model)"
        typer.echo(f"valence {est.valence:+.3f}  arousal {est.arousal:+.3f}  {est.quadrant}"
                   f"{extra}{model_name}")
