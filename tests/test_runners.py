"""The runner registry (:mod:`midi2img.runners`): which runner ``--engine`` and ``--jobs``
select, the settings it gets, and imports that go one way (batch -> runners -> convert)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import midi2img
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
