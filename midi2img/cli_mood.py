"""``midi2img mood``: train, evaluate and run the valence-arousal model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from midi2img.errors import Midi2ImgError

app = typer.Typer(help="Valence-arousal (mood) model: train, eval, predict.",
                  no_args_is_help=True, add_completion=False)

DataOpt = Annotated[Path | None, typer.Option(
    "--data", help="Shared data folder (default $MIDI2IMG_DATA or ../shared/data).")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache", help="Feature cache folder (default ~/.cache/midi2img).")]
ModelOpt = Annotated[Path | None, typer.Option(
    "--model", help="Model folder (default: the shipped model).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

_AUDIO = (".wav", ".mp3", ".ogg", ".flac", ".m4a", ".aac", ".aif", ".aiff")


def _fail(exc: Midi2ImgError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def _data_folder(data: Path | None) -> Path:
    from midi2img.config import data_dir
    from midi2img.errors import DataError

    root = Path(data).expanduser() if data is not None else data_dir()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    if not (root / "emopia").is_dir() or not (root / "vgmidi").is_dir():
        raise DataError(f"{root} has no emopia/ and vgmidi/ folders (wrong --data folder?)")
    return root


def _model(folder: Path | None):  # noqa: ANN202 - MoodModel, imported lazily
    from midi2img.errors import ModelError
    from midi2img.mood import MoodModel, default_model_dir, load_default

    if folder is None:
        model = load_default()
        if model is None:
            raise ModelError(f"no mood model shipped at {default_model_dir()}; run "
                             "`make train-mood`")
        return model
    if not Path(folder).is_dir():
        raise ModelError(f"model folder not found: {folder}")
    return MoodModel.load(Path(folder))


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Shared data folder (emopia/, vgmidi/).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for weights and card.")] = Path(
        "models/mood"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the VGMIDI split and trees.")] = 0,
    cache: CacheOpt = None,
) -> None:
    """Train on EMOPIA + VGMIDI, validate, score the test splits, write model + card."""
    try:
        from midi2img.mood_train import train as run_train

        root = _data_folder(data)
        card = run_train(root, out, seed=seed, cache=cache, log=typer.echo)
    except Midi2ImgError as exc:
        raise _fail(exc) from exc
    t = card["metrics"]["test"]
    typer.echo(f"wrote {out}: EMOPIA test quadrant {t['quadrant_accuracy']:.3f}, arousal "
               f"{t['arousal_accuracy']:.3f}, valence {t['valence_accuracy']:.3f}")


@app.command("eval")
def eval_(
    as_json: JsonOpt = False,
    model_dir: ModelOpt = None,
    data: DataOpt = None,
    split: Annotated[str, typer.Option("--split", help="test or val.")] = "test",
    cache: CacheOpt = None,
) -> None:
    """Score a model on EMOPIA's official test split and VGMIDI's held-out pieces."""
    try:
        from midi2img.errors import InputError, ModelError
        from midi2img.mood_train import evaluate

        if split not in ("test", "val"):
            raise InputError(f"--split must be test or val, got {split!r}")
        root = _data_folder(data)
        model = _model(model_dir)
        folder = Path(model_dir) if model_dir is not None else None
        if folder is None:
            from midi2img.mood import default_model_dir

            split_file = default_model_dir() / "vgmidi_split.json"
        else:
            split_file = folder / "vgmidi_split.json"
        if not split_file.is_file():
            raise ModelError(f"{split_file} missing: the model's VGMIDI split is unknown")
        vg_split = json.loads(split_file.read_text())
        result = evaluate(model, root, vg_split=vg_split, cache=cache, split=split)
    except Midi2ImgError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(result))
        return
    vg = result["vgmidi"]
    typer.echo(f"EMOPIA {split} (n={result['n']}): quadrant {result['quadrant_accuracy']:.3f}, "
               f"arousal {result['arousal_accuracy']:.3f}, valence "
               f"{result['valence_accuracy']:.3f}")
    typer.echo(f"VGMIDI {split} (n={vg['n']}): valence r {vg['valence_pearson']:.3f}, "
               f"arousal r {vg['arousal_pearson']:.3f}")


@app.command()
def predict(
    track: Annotated[Path, typer.Argument(help="A .mid file (or audio, transcribed first).")],
    as_json: JsonOpt = False,
    model_dir: ModelOpt = None,
) -> None:
    """Valence, arousal and quadrant of one track."""
    try:
        from midi2img.errors import InputError
        from midi2img.features import extract

        # read_midi / transcribe_file report a missing file or a folder themselves
        if track.suffix.lower() in (".mid", ".midi"):
            from midi2img.notes import read_midi

            notes = read_midi(track)
        elif track.suffix.lower() in _AUDIO:
            from midi2img.transcribe import transcribe_file

            notes = transcribe_file(track)
        else:
            raise InputError(f"{track}: expected a .mid file or audio ({', '.join(_AUDIO)})")
        if not len(notes):
            raise InputError(f"{track}: no notes")
        model = _model(model_dir)
        est = model.predict(notes, extract(notes))
    except Midi2ImgError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(est.to_dict()))
    else:
        typer.echo(f"valence {est.valence:+.3f}  arousal {est.arousal:+.3f}  {est.quadrant}")
