"""The runners (:mod:`midi2img.runners`): which runner ``--engine`` and ``--jobs`` select, the
settings it gets, imports that go one way (batch -> runners -> convert), and the process pool:
the same results as the sequential runner, killed workers, and one render worker for ``--image
sd``. The Ray runner has its own file (``test_runners_ray_runner.py``)."""

from __future__ import annotations

import ast
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import midi2img
from helpers import hidden_files, pulse_audio, sd_runs_against_sequential, small_library
from midi2img.batch import collect_inputs, plan_batch, read_run_record
from midi2img.cli import app
from midi2img.errors import InputError
from midi2img.runners import (
    RUNNERS,
    RunnerChoice,
    available_cores,
    engine_help,
    engines,
    runner_options,
)

PACKAGE = Path(midi2img.__file__).parent
runner = CliRunner()


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    return small_library(tmp_path / "lib")


def test_engine_and_jobs_select_the_runner() -> None:
    assert engines() == ("local", "ray") and list(RUNNERS) == ["sequential", "pool", "ray"]
    assert engine_help() == ("local: this machine (--jobs worker processes); ray: a Ray "
                             "cluster (pip install 'midi2img[ray]').")
    assert RunnerChoice().name == "sequential" and RunnerChoice(jobs="1").name == "sequential"
    assert RunnerChoice(jobs="2").name == RunnerChoice(jobs=" 16 ").name == "pool"
    assert RunnerChoice(jobs="auto").name == ("pool" if available_cores() > 1 else "sequential")
    assert RunnerChoice(engine="ray").name == RunnerChoice(engine="ray", jobs="3").name == "ray"
    for bad in ("0", "-1", "many"):
        with pytest.raises(InputError, match=f"--jobs '{bad}'"):
            _ = RunnerChoice(jobs=bad).name
    with pytest.raises(InputError, match="unknown --engine 'spark'; choose one of: local, ray"):
        _ = RunnerChoice(engine="spark").name


def test_the_choice_creates_the_runner_with_its_settings() -> None:
    from midi2img.runners.pool import PoolRunner
    from midi2img.runners.ray_runner import RayOptions, RayRunner
    from midi2img.runners.sequential import SequentialRunner

    assert runner_options() == {"ray": RayOptions}
    seq = RunnerChoice().create()
    assert isinstance(seq, SequentialRunner) and seq.in_process and seq.local_workers == 1
    pool = RunnerChoice(jobs="3").create()
    assert isinstance(pool, PoolRunner) and not pool.in_process
    assert pool.workers == pool.local_workers == 3
    ray = RunnerChoice(engine="ray", settings={"address": "auto", "gpus_per_renderer": 0.5}
                       ).create()
    assert isinstance(ray, RayRunner) and (ray.address, ray.gpus_per_renderer) == ("auto", 0.5)
    assert ray.workers is None and ray.local_workers == 0  # no --jobs: the cluster decides
    assert RunnerChoice(engine="ray", jobs="4").create().workers == 4  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="--gpus-per-renderer 0: must be above 0"):
        RunnerChoice(engine="ray", settings={"gpus_per_renderer": 0}).create()


def _imports(path: Path) -> set[str]:
    """Every midi2img module ``path`` imports, at any depth (inside functions and
    ``TYPE_CHECKING`` blocks too: a lazy import does not hide a cycle)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("midi2img")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("midi2img"):
            base = node.module or ""
            for a in node.names:
                sub = f"{base}.{a.name}"
                as_module = PACKAGE.parent / (sub.replace(".", "/") + ".py")
                as_package = PACKAGE.parent / sub.replace(".", "/") / "__init__.py"
                found.add(sub if as_module.is_file() or as_package.is_file() else base)
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_batch_runners_and_convert_import_one_way() -> None:
    """batch -> runners -> convert, never back, and no module of the batch, the runners, the
    image backends, the flags or the convert command is on an import cycle."""
    graph = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    runner_modules = [m for m in graph if m.startswith("midi2img.runners")]
    assert {"midi2img.runners", "midi2img.runners.pool"} <= set(runner_modules)
    assert "midi2img.runners" in graph["midi2img.batch"]
    for m in runner_modules:
        assert "midi2img.batch" not in graph[m], m

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    mine = ["midi2img.batch", "midi2img.flags", "midi2img.cli.convert", "midi2img.cli.options",
            *runner_modules, *(m for m in graph if m.startswith("midi2img.render"))]
    assert [m for m in mine if reaches(m, m)] == []


# ---- the process pool (midi2img.runners.pool) --------------------------------------------------


def _plan(lib: Path, out: Path) -> Any:
    return plan_batch(collect_inputs([str(lib)]), out)


def test_pool_matches_sequential_and_survives_killed_workers(library: Path,
                                                             tmp_path: Path) -> None:
    from midi2img.analysis import AnalysisOptions
    from midi2img.batch import run_batch
    from midi2img.convert import ConvertContext, ConvertOptions
    from midi2img.render import RenderOptions
    from midi2img.runners import create_runner

    pulse_audio(library / "minor" / "low.wav", root_hz=196.0)
    options = ConvertOptions(AnalysisOptions(), image="abstract",
                             render=RenderOptions(width=64, height=64))
    seq = run_batch(_plan(library, tmp_path / "seq"), ConvertContext.create(options),
                    create_runner("sequential"))
    assert seq.count("ok") == 5

    killed: list[int] = []

    def kill_workers(job: Any, stage: str, fraction: float) -> None:
        """At the first transcription, kill -9 every worker (the busy ones included)."""
        import multiprocessing

        if not killed and stage == "transcribing":
            for victim in multiprocessing.active_children():
                killed.append(victim.pid or 0)
                os.kill(victim.pid or 0, signal.SIGKILL)

    out = tmp_path / "pool"
    summary = run_batch(_plan(library, out), ConvertContext.create(options, images=False),
                        create_runner("pool", workers=2), engine="pool", workers=2,
                        on_progress=kill_workers)
    assert len(killed) == 2 and summary.count("ok") == 5, [r.error for r in summary.failures]
    for a, b in zip(seq.results, summary.results, strict=True):
        assert a.source == b.source and a.status == b.status == "ok"
        ra, rb = Path(a.output or ""), Path(b.output or "")
        for name in ("analysis.json", f"{ra.name}.png", f"{ra.name}.mid", "prompt.txt"):
            assert (ra / name).read_bytes() == (rb / name).read_bytes(), (ra, name)
    assert not hidden_files(out)
    # a track whose worker dies more often than allowed is recorded as failed; the rest finish
    out2 = tmp_path / "pool2"
    killed.clear()
    summary = run_batch(_plan(library, out2), ConvertContext.create(options, images=False),
                        create_runner("pool", workers=1, retries=0), engine="pool",
                        on_progress=kill_workers)
    assert len(killed) == 1 and summary.count("ok") == 4 and len(summary.failures) == 1
    assert "worker process converting it died 1 time(s) (killed by signal 9)" in (
        summary.failures[0].error or "")
    assert [r["status"] for r in read_run_record(out2)].count("failed") == 1


def test_pool_renders_with_one_pipeline_worker(tmp_path: Path) -> None:
    """--image sd: analysis workers hand their tracks to one render worker (no GPU here),
    and the images equal the sequential run's; a model that cannot load stops the pool run."""
    sd_runs_against_sequential(tmp_path, "-j", "2")
    for i in range(3):
        a, b = tmp_path / "a" / f"t{i}", tmp_path / "b" / f"t{i}"
        assert json.loads((a / "analysis.json").read_text())["image"]["renderer"] == (
            "stable-diffusion")
        for name in ("analysis.json", f"t{i}.png"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_jobs_option_values() -> None:
    from midi2img.runners import available_cores, parse_jobs

    assert parse_jobs(None) == 1 and parse_jobs("3") == 3
    assert parse_jobs("auto") == available_cores() >= 1
    for bad in ("0", "-2", "many"):
        r = runner.invoke(app, ["convert", "x.mid", "--jobs", bad])
        assert r.exit_code == 2 and "--jobs" in r.stderr
