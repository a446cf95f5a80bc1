"""Image rendering benchmark: pipeline load time and per-image time, plus the abstract renderer.

Usage: python bench/bench_render.py [--model ID_OR_DIR] [--runs 5]

Without ``--model`` it builds the tiny randomly initialised SD pipeline the tests use (real
architecture at toy width: the numbers measure the machinery - loading, scheduler, VAE decode,
PNG - not a real model's cost). With ``--model`` (a cached Hub id or a local folder) it measures
that model too, at its native size with its default steps. Prints a Markdown snippet on stdout;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _median(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _bench_sd(model: str, runs: int, sizes: list[tuple[int | None, int]], label: str
              ) -> list[str]:
    from midi2img.render import RenderOptions
    from midi2img.render.diffusion import DiffusionBackend

    rows = []
    import_s = _cold_import_s()
    first = True
    for size, steps in sizes:
        r = DiffusionBackend(RenderOptions(model=model, steps=steps, width=size, height=size,
                                            device="auto"))
        r.load()
        r.render("a warm sunrise over the sea", seed=0)  # warm-up
        per = _median(lambda r=r: r.render("a warm sunrise over the sea", seed=1), runs)
        shown = f"{size}x{size}" if size else "native"
        rows.append(f"| {label} | {r.device} {r.dtype} | "
                    f"{f'{import_s:.2f} s' if first else '-'} | {r.load_s:.2f} s | {shown}, "
                    f"{r.options.resolved_steps()} steps | {per:.3f} s |")
        first = False
        print(f"{label} {shown}: load {r.load_s:.2f} s, {per:.3f} s/image", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="also measure this cached Hub id or local folder")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from midi2img.render import abstract as art
    from midi2img.render import save_tiny_pipeline

    lines = ["## Image rendering", "",
             "| renderer | device | cold import | pipeline load | image | per image |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        print("building the tiny pipeline ...", file=sys.stderr)
        tiny = save_tiny_pipeline(Path(tmp) / "tiny-sd")
        lines += _bench_sd(str(tiny), args.runs, [(64, 2), (256, 2)],
                           "tiny random SD (test pipeline)")
    if args.model:
        lines += _bench_sd(args.model, max(1, args.runs // 2), [(None, None)], args.model)  # type: ignore[list-item]

    analysis = {"key": "A minor", "tempo_bpm": 128.0, "affect": {"valence": -0.2, "arousal": 0.6},
                "notes": {"density_per_s": 6.0, "pitch_median": 64, "mean_velocity": 90},
                "chords": [{"label": lab} for lab in ("A:min", "F:maj", "C:maj", "G:maj") * 4]}
    art.render_abstract(analysis, seed=0)  # warm-up
    per = _median(lambda: art.render_abstract(analysis, seed=1, width=512, height=512),
                  args.runs)
    per1k = _median(lambda: art.render_abstract(analysis, seed=1, width=1024, height=1024),
                    max(1, args.runs // 2))
    lines += [f"| abstract (offline, numpy+Pillow) | cpu | - | none | 512x512 | {per:.3f} s |",
              f"| abstract (offline, numpy+Pillow) | cpu | - | none | 1024x1024 | {per1k:.3f} s |",
              "", f"Median of {args.runs} runs after one warm-up image; torch threads: "
              f"{_threads()}. The tiny pipeline is random weights at toy width: its times show "
              "the per-run overhead, not the cost of a real model (pass --model for that)."]
    print("\n".join(lines))


def _cold_import_s() -> float:
    """Wall time of importing torch and diffusers' text-to-image pipelines in a fresh process."""
    import subprocess

    code = ("import time; t = time.perf_counter(); import torch; "
            "from diffusers import AutoPipelineForText2Image; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip().splitlines()[-1])


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    main()
