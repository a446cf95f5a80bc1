"""``similar``: the tracks of a batch most like one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from midi2img.cli.options import JsonOpt


def similar(
    track: Annotated[Path, typer.Argument(help="A track folder written by convert.")],
    out_dir: Annotated[Path, typer.Argument(
        help="The batch's output folder: its track folders (OUT/*/analysis.json) are compared "
             "with TRACK.")],
    n: Annotated[int, typer.Option("-n", help="How many tracks to list.", min=1)] = 5,
    as_json: JsonOpt = False,
) -> None:
    """List the tracks of a batch most similar to TRACK, nearest first, by tags, affect, tempo
    and key, with each distance explained term by term."""
    from midi2img.similar import WEIGHTS, similar_to

    found = similar_to(track, out_dir, n)
    if as_json:
        typer.echo(json.dumps({"track": str(track), "weights": dict(WEIGHTS),
                               "similar": [nb.to_dict() for nb in found]},
                              indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo(f"{out_dir}: no other track to compare {track.name} with")
        return
    width = max(5, *(len(nb.name) for nb in found))
    typer.echo(f"{'#':>2}  {'track':<{width}}  distance  made of")
    for i, nb in enumerate(found, 1):
        typer.echo(f"{i:>2}  {nb.name:<{width}}  {nb.distance:8.3f}  {nb.explain()}")
    typer.echo("weights: " + ", ".join(f"{k} {w:.2f}" for k, w in WEIGHTS.items())
               + "; a part one track lacks is left out and the rest renormalised")


def register(app: typer.Typer) -> None:
    """Add ``similar`` to the root app."""
    app.command()(similar)
