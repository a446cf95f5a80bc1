"""``midi2img genre``: train, evaluate and apply the GTZAN genre network.

Same verbs and options as ``midi2img mood`` (its sibling); heavy libraries load inside the
commands only.
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

app = typer.Typer(help="GTZAN genre network: train it, evaluate it on the filtered split, score "
                       "a track.", no_args_is_help=True)


def _data(data: object) -> object:
    """``--data``: a GTZAN feature table, a GTZAN audio root, or the shared data folder."""
    from pathlib import Path

    from midi2img.gtzan.train import default_data_path

    if data is None:
        return default_data_path()
    p = Path(str(data))
    return p / "gtzan" if (p / "gtzan").is_dir() else p


@app.command()
def train(
    out: TrainOutOpt,
    data: DataOpt = None,
    seed: SeedOpt = 0,
    members: Annotated[int | None, typer.Option(
        "--members", min=1, help="Ensemble size (default: the recipe's, 10).")] = None,
    force: ForceOpt = False,
    cache: CacheOpt = None,
) -> None:
    """Train on the filtered train split (valid for early stopping), score test once, write the
    model and its card into OUT."""
    from midi2img.gtzan.train import TrainConfig
    from midi2img.gtzan.train import train as run
    from midi2img.io import StagedDir
    from midi2img.modeling import previous_card

    previous = previous_card(out)  # the model --force replaces: its card's test scorings stay
    with StagedDir(out, force=force) as staging:
        cfg = TrainConfig(seed=seed) if members is None else TrainConfig(seed=seed,
                                                                         members=members)
        results = run(_data(data), staging, cfg, cache=cache,
                      log=lambda s: typer.echo(s, err=True), previous=previous)
    typer.echo(f"model written to {out}")
    for r in results:
        typer.echo(f"{r.split:5s} n={r.n:3d} accuracy {r['accuracy']:.3f} "
                   f"top-3 {r['top3_accuracy']:.3f} lowest genre recall {r['min_recall']:.2f}")


@app.command("eval")
def evaluate(
    data: DataOpt = None,
    model: ModelDirOpt = None,
    split: Annotated[Literal["train", "test"], typer.Option(
        "--split", help="Split of the fault-filtered GTZAN split to score (the published "
        "taggrams cover no valid clip).")] = "test",
    as_json: JsonOpt = False,
    cache: CacheOpt = None,
) -> None:
    """Accuracy, top-3 accuracy and confusion matrix on a split (the test split by default)."""
    from midi2img.gtzan.train import evaluate as score
    from midi2img.gtzan.train import load_splits
    from midi2img.modeling import load_model

    net = load_model("genre", model)
    log = (lambda s: None) if as_json else (lambda s: typer.echo(s, err=True))
    table = load_splits(_data(data), only=(split,), cache_dir=cache, progress=log)[split]
    result = score(net, table, split)
    if as_json:
        typer.echo(json.dumps([result.to_dict()]))
        return
    typer.echo(f"GTZAN {result.split}: n={result.n} accuracy {result['accuracy']:.3f} "
               f"top-3 accuracy {result['top3_accuracy']:.3f}")
    labels = result.labels
    typer.echo("confusion (rows true, columns predicted):")
    typer.echo(" " * 10 + " ".join(f"{g[:5]:>5s}" for g in labels))
    for g, row in zip(labels, result.confusion, strict=True):
        typer.echo(f"{g:>9s} " + " ".join(f"{v:5d}" for v in row))
    typer.echo("recall: " + ", ".join(f"{g} {result.per_class_recall[g]:.2f}" for g in labels))


@app.command()
def predict(
    track: TrackArg,
    model: ModelDirOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The 10 genre probabilities of a recording, exactly as ``keywords`` computes them."""
    from midi2img.audio import is_midi
    from midi2img.cli.track import analyse
    from midi2img.errors import InputError

    if is_midi(track):
        raise InputError(f"{track}: MIDI has no audio; the genre network needs a recording")
    result = analyse(track, quiet=quiet, use_affect=False, genre_model=model)
    pred = result.genre
    if pred is None:
        raise InputError(f"{track}: no genre ({result.omitted.get('genre', 'unknown reason')})")
    if as_json:
        typer.echo(json.dumps(pred.to_dict()))
        return
    typer.echo(f"{track.name}: {pred.label} ({pred.windows} window(s) of 30 s)")
    for genre, p in pred.top(10):
        typer.echo(f"  {genre:10s} {p:.3f}")
