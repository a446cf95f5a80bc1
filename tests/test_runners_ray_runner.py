"""The Ray runner (:mod:`midi2img.runners.ray_runner`), ``--engine ray`` on a local Ray instance
(``ray.init(num_cpus=2)``): the same analyses as the local runner, the same resume and run record,
a worker killed mid-batch, and the render actors (CPU actors here: no GPU in CI; the GPU
arithmetic is checked on its own)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import _under_ci
from helpers import (
    SMALL,
    assert_complete,
    hidden_files,
    pulse_audio,
    sd_runs_against_sequential,
    track_folders,
    triad_midi,
)
from midi2img.batch import RUN_RECORD, collect_inputs, plan_batch, run_batch
from midi2img.cli import app

try:
    import ray
except ImportError:  # CI installs the extra (make install): there, a missing Ray is a failure
    if _under_ci():
        raise
    pytest.skip("Ray is not installed (pip install 'midi2img[ray]')", allow_module_level=True)

runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    for i in range(4):
        triad_midi(lib / ("major" if i % 2 else "minor") / f"t{i}.mid", root=55 + i,
                   minor=not i % 2)
    pulse_audio(lib / "audio" / "pulse.wav")
    pulse_audio(lib / "audio" / "low.wav", root_hz=196.0)
    return lib


def _analyses(out: Path) -> dict[str, bytes]:
    return {f.relative_to(out).as_posix(): (f / "analysis.json").read_bytes()
            for f in track_folders(out)}


def test_ray_gives_the_local_runners_analyses(local_ray: None, library: Path,
                                             tmp_path: Path) -> None:
    local, dist = tmp_path / "local", tmp_path / "ray"
    r = runner.invoke(app, ["convert", str(library), "-o", str(local), *SMALL, "--segments",
                            "2"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["convert", str(library), "-o", str(dist), *SMALL, "--segments",
                            "2", "--engine", "ray", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["engine"], s["done"], s["failed"]) == ("ray", 6, 0)
    assert _analyses(local) == _analyses(dist) and len(_analyses(dist)) == 6
    for folder in track_folders(dist):
        other = local / folder.relative_to(dist)
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in other.iterdir())
        png = f"{folder.name}.png"
        assert (folder / png).read_bytes() == (other / png).read_bytes()
    recs = [json.loads(x) for x in (dist / RUN_RECORD).read_text().splitlines()]
    assert sorted(r["output"] for r in recs) == sorted(_analyses(dist))
    # the same resume: nothing to do
    r = runner.invoke(app, ["convert", str(library), "-o", str(dist), *SMALL, "--segments",
                            "2", "--engine", "ray", "--resume", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped"] == 6, r.output


def test_ray_survives_a_worker_killed_mid_batch(local_ray: None, library: Path,
                                               tmp_path: Path) -> None:
    """kill -9 the Ray worker process that runs an analysis task: Ray runs the task again and
    the batch ends complete, equal to a local run."""
    import psutil

    from midi2img.analysis import AnalysisOptions
    from midi2img.convert import ConvertContext, ConvertOptions
    from midi2img.render import RenderOptions
    from midi2img.runners import create_runner

    for i in range(4):
        pulse_audio(library / "more" / f"c{i}.wav", seconds=8.0, root_hz=180.0 + 30 * i)
    options = ConvertOptions(AnalysisOptions(), image="abstract",
                             render=RenderOptions(width=64, height=64))
    local = run_batch(plan_batch(collect_inputs([str(library)]), tmp_path / "local"),
                      ConvertContext.create(options), create_runner("sequential"))
    assert local.count("ok") == 10
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        deadline = time.monotonic() + 300
        while not done.is_set() and time.monotonic() < deadline and not killed:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if cmd.startswith("ray::analyse_task"):
                    time.sleep(0.3)  # let it get into the track
                    try:
                        os.kill(proc.info["pid"], signal.SIGKILL)
                        killed.append(proc.info["pid"])
                    except ProcessLookupError:
                        continue
                    break
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "ray"
    try:
        summary = run_batch(plan_batch(collect_inputs([str(library)]), out),
                            ConvertContext.create(options, images=False),
                            create_runner("ray"), engine="ray")
    finally:
        done.set()
        thread.join(timeout=10)
    assert killed, "no Ray task was seen running"
    assert summary.count("ok") == 10, [r.error for r in summary.failures]
    assert _analyses(out) == _analyses(tmp_path / "local")
    for folder in track_folders(out):
        assert_complete(folder)
    assert not hidden_files(out)


def test_ray_render_actor_holds_the_pipeline(local_ray: None, tmp_path: Path) -> None:
    """--image sd through Ray: analysis tasks feed one render actor (a CPU actor: no GPU here);
    images and analyses equal the local run's; a model that cannot load stops the batch."""
    sd_runs_against_sequential(tmp_path, "--engine", "ray")
    assert _analyses(tmp_path / "a") == _analyses(tmp_path / "b")
    for i in range(3):
        a, b = (np.asarray(Image.open(tmp_path / d / f"t{i}" / f"t{i}.png").convert("RGB"),
                           dtype=float) for d in ("a", "b"))
        # the same picture; torch's CPU kernels round differently with Ray's one thread per
        # worker (OMP_NUM_THREADS=1), so a pixel may differ by a step or two
        assert a.shape == b.shape == (64, 64, 3) and np.abs(a - b).max() <= 4


def test_renderer_plan_shares_gpus() -> None:
    from midi2img.runners.ray_runner import renderer_plan

    assert renderer_plan({"CPU": 8.0}, device="auto", gpus_per_renderer=1.0) == (1, 0.0)
    assert renderer_plan({"GPU": 4.0}, device="auto", gpus_per_renderer=1.0) == (4, 1.0)
    assert renderer_plan({"GPU": 2.0}, device="cuda", gpus_per_renderer=0.5) == (4, 0.5)
    assert renderer_plan({"GPU": 3.0}, device="auto", gpus_per_renderer=2.0) == (1, 2.0)
    assert renderer_plan({"GPU": 0.5}, device="auto", gpus_per_renderer=1.0) == (1, 0.5)
    assert renderer_plan({"GPU": 4.0}, device="cpu", gpus_per_renderer=1.0) == (1, 0.0)
    assert renderer_plan({"GPU": 4.0}, device="auto", gpus_per_renderer=1.0,
                         renderers=2) == (2, 1.0)


def test_ray_option_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["convert", "x.mid", "--engine", "ray", "--gpus-per-renderer", "0"])
    assert r.exit_code == 2 and "--gpus-per-renderer" in r.stderr
    r = runner.invoke(app, ["convert", "x.mid", "--engine", "spark"])
    assert r.exit_code == 2

