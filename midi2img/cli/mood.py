"""``midi2img mood``: train, evaluate and apply the valence-arousal model.

Same verbs and options as ``midi2img genre`` (its sibling).
"""

from __future__ import annotations

import json
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

app = typer.Typer(help="Valence-arousal (mood) model: train it, evaluate it, score a track.",
                  no_args_is_help=True)


@app.command()
def train(
    out: TrainOutOpt,
    data: DataOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    cache: CacheOpt = None,
) -> None:
    """Train on EMOPIA + VGMIDI (valid for the figures of the card), score test once, write the
    model and its card into OUT."""
    from midi2img.config import require_data_dir
    from midi2img.io import StagedDir
    from midi2img.mood.train import TrainConfig
    from midi2img.mood.train import train as run

    root = require_data_dir(data, "emopia", "vgmidi")
    with StagedDir(out, force=force) as staging:
        results = run(root, staging, TrainConfig(seed=seed), cache=cache,
                      log=lambda s: typer.echo(s, err=True))
    typer.echo(f"model written to {out}")
    for r in results:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in r.metrics.items())
        typer.echo(f"{r.dataset} {r.split} n={r.n}: {figures}")


@app.command("eval")
def evaluate(
    data: DataOpt = None,
    model: ModelDirOpt = None,
    split: Annotated[Literal["valid", "test"], typer.Option(
        "--split", help="EMOPIA's official split and the model's VGMIDI piece split.")] = "test",
    as_json: JsonOpt = False,
    cache: CacheOpt = None,
) -> None:
    """Quadrant/valence/arousal accuracy on EMOPIA and correlations on VGMIDI."""
    from midi2img.config import require_data_dir
    from midi2img.modeling import SHIPPED, load_model
    from midi2img.mood.train import evaluate as score
    from midi2img.mood.train import load_vgmidi_split

    root = require_data_dir(data, "emopia", "vgmidi")
    net = load_model("affect", model)
    folder = model if model is not None else SHIPPED["affect"].path()
    results = score(net, root, vg_split=load_vgmidi_split(folder), cache=cache, split=split)
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
        typer.echo(f"valence {est.valence:+.3f}  arousal {est.arousal:+.3f}  {est.quadrant}")
