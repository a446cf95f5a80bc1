"""``midi2img genre``: train, evaluate and apply the GTZAN genre network.

Heavy libraries (TensorFlow, librosa) are imported inside the commands only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from midi2img.errors import Midi2ImgError

app = typer.Typer(
    help="GTZAN genre network: train it, evaluate it on the filtered test split, score a track.",
    no_args_is_help=True,
)


def _fail(exc: Midi2ImgError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def _data_path(data: Path | None) -> Path:
    from midi2img.gtzan.train import default_data_path

    return data if data is not None else default_data_path()


@app.command()
def train(
    data: Annotated[Path | None, typer.Option(
        "--data", help="features_30_sec.csv, or a GTZAN audio root "
                       "(<genre>/<genre>.000NN.wav); default $MIDI2IMG_DATA/gtzan")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder for the model")] = Path(
        "models/genre"),
    seed: Annotated[int, typer.Option("--seed", help="base random seed")] = 0,
    members: Annotated[int, typer.Option("--members", min=1, help="ensemble size")] = 10,
) -> None:
    """Train the genre network on the filtered train split (valid for early stopping)."""
    try:
        from midi2img.gtzan.train import TrainConfig, run

        results = run(_data_path(data), out, TrainConfig(seed=seed, members=members),
                      progress=lambda s: typer.echo(s, err=True))
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    typer.echo(f"model written to {out}")
    for r in results.values():
        typer.echo(f"{r.split:5s} n={r.n:3d} accuracy {r.accuracy:.3f} "
                   f"top-3 {r.top3_accuracy:.3f}")


def _load_model(model_dir: Path | None):  # noqa: ANN202 - GenreMLP
    from midi2img.errors import InputError, ModelError
    from midi2img.gtzan.model import GenreMLP, load_shipped

    if model_dir is None:
        try:
            return load_shipped()
        except ModelError as exc:
            raise ModelError(f"no shipped genre model ({exc})") from None
    if not model_dir.is_dir():
        raise InputError(f"{model_dir}: no such model folder")
    return GenreMLP.load(model_dir)


@app.command("eval")
def evaluate(
    data: Annotated[Path | None, typer.Option(
        "--data", help="features_30_sec.csv or a GTZAN audio root; "
                       "default $MIDI2IMG_DATA/gtzan")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="model folder (default: the shipped one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Accuracy, top-3 accuracy and confusion matrix on the filtered test split."""
    try:
        from midi2img.gtzan.train import evaluate as score
        from midi2img.gtzan.train import load_splits

        net = _load_model(model)
        progress = (lambda s: None) if as_json else (lambda s: typer.echo(s, err=True))
        test = load_splits(_data_path(data), only=("test",), progress=progress)["test"]
        result = score(net, test, "test")
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(f"split {result.split}: n={result.n} accuracy {result.accuracy:.3f} "
               f"top-3 accuracy {result.top3_accuracy:.3f}")
    labels = result.labels
    typer.echo("confusion (rows true, columns predicted):")
    typer.echo(" " * 10 + " ".join(f"{g[:5]:>5s}" for g in labels))
    for g, row in zip(labels, result.confusion, strict=True):
        typer.echo(f"{g:>9s} " + " ".join(f"{v:5d}" for v in row))
    typer.echo("recall: " + ", ".join(f"{g} {result.per_genre_recall[g]:.2f}" for g in labels))


@app.command()
def predict(
    track: Annotated[Path, typer.Argument(help="an audio file (wav, flac, ogg, mp3, ...)")],
    model: Annotated[Path | None, typer.Option(
        "--model", help="model folder (default: the shipped one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The 10 genre probabilities of a track (30 s windows, averaged)."""
    try:
        from midi2img import audio
        from midi2img.errors import InputError
        from midi2img.genre import GtzanScorer
        from midi2img.gtzan.features import FEATURE_SR_HZ

        if audio.is_midi(track):
            raise InputError(f"{track}: MIDI has no audio; the genre network needs a recording")
        audio.probe(track)
        samples = audio.load(track, sr=FEATURE_SR_HZ)
        pred = GtzanScorer(_load_model(model)).score_audio(samples, FEATURE_SR_HZ)
    except Midi2ImgError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(pred.to_dict()))
        return
    typer.echo(f"{track.name}: {pred.label} ({pred.windows} window(s) of 30 s)")
    for genre, p in pred.top(10):
        typer.echo(f"  {genre:10s} {p:.3f}")
