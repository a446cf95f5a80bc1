"""The process-pool runner: tracks in parallel on one machine (``--jobs N``).

Architecture:

* **Analysis workers** (``workers`` of them) are spawned processes (the ``spawn`` start method:
  nothing of the parent's onnxruntime, TensorFlow or torch threads is inherited). Each loads
  every analysis model once when it starts (:func:`midi2img.convert.warm_models`: Basic Pitch,
  the taggers, the genre and affect models), caps its math libraries' threads to its share of
  the cores, and keeps all of it for every track it is given.
* **Images.** Without a diffusion pipeline (``--image none`` or ``abstract``) an analysis
  worker converts its track whole (:func:`~midi2img.convert.convert_one`; the abstract renderer
  needs no model). With one (``--image auto``/``sd``) the analysis workers only analyse
  (:func:`~midi2img.convert.prepare_track`) and the parent hands each analysed track to a
  **render worker** that holds the pipeline and writes the folder
  (:func:`~midi2img.convert.finish_track`): one render worker per GPU (each sees only its own
  through ``CUDA_VISIBLE_DEVICES``), or a single one on a machine without a GPU. A pipeline is
  never loaded per track.
* **The parent** owns the console and the run record: workers never print; they send
  ``progress``, ``warn``, ``prepared`` and ``result`` messages through their own pipe, and the
  parent dispatches one job at a time to each idle worker, so it always knows which track each
  worker holds. A worker that dies (kill -9, out of memory) is replaced; its track is tried
  again once, then recorded as failed. Workers die with the parent (``PR_SET_PDEATHSIG``), so a
  killed run leaves no process writing behind it. A worker's stdout and stderr go to
  ``/dev/null`` (``MIDI2IMG_WORKER_OUTPUT=1`` keeps them, for debugging).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from midi2img.errors import InputError, Midi2ImgError, ModelError, OutputError
from midi2img.runners import Job, JobProgress, OnResult, available_cores

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from midi2img.convert import ConvertContext, ConvertOptions, TrackResult

#: Environment variables that cap the threads of the math libraries in a worker.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def local_gpus(device: str) -> list[str]:
    """The GPUs a render worker may be pinned to (``CUDA_VISIBLE_DEVICES`` ids), without
    importing torch: empty for ``--device cpu``/``mps`` or on a machine without NVIDIA GPUs."""
    if device in ("cpu", "mps"):
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.splitlines()
                                            if ln.startswith("GPU "))]


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _error(code: int, line: str) -> Midi2ImgError:
    """A midi2img error of the kind an exit code stands for."""
    cls = {2: InputError, 3: ModelError, 4: OutputError}.get(code, Midi2ImgError)
    return cls(line)


def _worker_main(conn: Connection, role: str, options: ConvertOptions, env: dict[str, str],
                 parent_pid: int) -> None:
    """A worker's life: set up, load the models, then serve jobs until told to stop."""
    import signal

    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.update(env)
    if not env.get("MIDI2IMG_WORKER_OUTPUT"):
        # the parent owns the console: a library's stray print or warning in a worker goes
        # nowhere (what matters comes back as messages; a crash, as the exit code)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)

    def send(*msg: Any) -> None:
        conn.send(msg)

    try:
        from midi2img.convert import (
            ConvertContext,
            convert_one,
            failed_result,
            finish_track,
            prepare_track,
            warm_models,
        )

        inline = role == "convert"
        context = ConvertContext.create(options, lambda msg: send("warn", msg),
                                        images=role in ("convert", "render"))
        if role in ("convert", "analyse"):
            warm_models(options)
        if role in ("convert", "render"):
            context.prepare()
    except Midi2ImgError as exc:
        send("fatal", exc.exit_code, " ".join(str(exc).split()))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        send("fatal", 1, f"a {role} worker could not start: {type(exc).__name__}: {exc}")
        return
    send("ready", os.getpid())
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kind, job, payload = msg

        def progress(stage: str, fraction: float, job: Job = job) -> None:
            send("progress", job.index, stage, fraction)

        try:
            if kind == "convert" and inline:
                send("result", job.index, convert_one(job.track, job.out, context,
                                                      progress=progress))
            elif kind == "analyse":
                send("prepared", job.index, prepare_track(job.track, job.out, context,
                                                          progress=progress))
            else:  # "finish"
                send("result", job.index, finish_track(payload, context))
        except (EOFError, OSError, BrokenPipeError):
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a record that does not pickle
            send("result", job.index, failed_result(str(job.track), exc))


def _send(w: _Worker, msg: Any) -> None:
    """Send ``msg`` to a worker; a dead one is noticed through its sentinel."""
    try:
        w.conn.send(msg)
    except (OSError, ValueError):
        pass


@dataclass
class _Worker:
    role: str
    proc: BaseProcess
    conn: Connection
    gpu: str | None = None
    ready: bool = False
    busy: tuple[Job, Any] | None = None  # the job it holds (and its payload)


class PoolRunner:
    """Runs tracks in a pool of worker processes on this machine.

    Args:
        workers: Number of analysis worker processes (``--jobs``).
        retries: How many times a track is tried again when its worker process dies.
        renderers: Number of render workers with a diffusion pipeline (default: one per GPU,
            or one without GPUs).
    """

    name: ClassVar[str] = "pool"
    options: ClassVar[type | None] = None  # --jobs (the registry's) is its only option
    in_process: ClassVar[bool] = False

    def __init__(self, workers: int = 2, *, retries: int = 1, renderers: int | None = None,
                 **_: Any) -> None:
        if workers < 1:
            raise InputError(f"--jobs {workers}: give at least one worker")
        self.workers = workers
        self.retries = retries
        self.renderers = renderers

    @property
    def local_workers(self) -> int:
        """The analysis worker processes (``--jobs``)."""
        return self.workers

    def _start(self, ctx: Any, role: str, options: ConvertOptions, gpu: str | None,
               threads: int) -> _Worker:
        env = {var: str(threads) for var in THREAD_VARS} if role != "render" else {}
        if os.environ.get("MIDI2IMG_WORKER_OUTPUT"):  # debugging: let workers print
            env["MIDI2IMG_WORKER_OUTPUT"] = "1"
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, name=f"midi2img-{role}",
                           args=(child, role, options, env, os.getpid()), daemon=True)
        proc.start()
        child.close()
        return _Worker(role, proc, parent, gpu)

    def run(self, jobs: Sequence[Job], context: ConvertContext, *, on_result: OnResult,
            on_progress: JobProgress | None = None) -> list[TrackResult]:
        """Run every job in the pool; report each result as it finishes.

        Raises:
            ModelError: a worker cannot load its models (the image pipeline included, when it
                may not fall back).
            Midi2ImgError: worker processes fail to start.
        """
        import multiprocessing as mp
        from multiprocessing.connection import wait

        from midi2img.convert import TrackResult

        options = context.options
        if not jobs:
            return []
        ctx = mp.get_context("spawn")
        diffusion = options.diffusion and options.image != "none"
        n_analysis = min(self.workers, len(jobs))
        threads = max(1, available_cores() // n_analysis)
        first_role = "analyse" if diffusion else "convert"
        pool: list[_Worker] = [self._start(ctx, first_role, options, None, threads)
                               for _ in range(n_analysis)]
        if diffusion:
            gpus: list[str | None] = list(local_gpus(options.render.device)) or [None]
            if self.renderers is not None:
                gpus = (gpus * self.renderers)[:self.renderers]
            pool += [self._start(ctx, "render", options, gpu, threads) for gpu in gpus]
        todo: deque[Job] = deque(jobs)
        to_render: deque[tuple[Job, Any]] = deque()
        results: dict[int, TrackResult] = {}
        deaths: dict[int, int] = {}
        restarts = 0

        def finish(job: Job, result: TrackResult) -> None:
            results[job.index] = result
            on_result(job, result)

        by_index = {job.index: job for job in jobs}
        try:
            while len(results) < len(jobs):
                for w in pool:
                    if not w.ready or w.busy is not None:
                        continue
                    if w.role != "render" and todo:
                        job = todo.popleft()
                        w.busy = (job, None)
                        _send(w, (first_role, job, None))
                    elif w.role == "render" and to_render:
                        job, prepared = to_render.popleft()
                        w.busy = (job, prepared)
                        _send(w, ("finish", job, prepared))
                waitables: list[Any] = [w.conn for w in pool] + [w.proc.sentinel for w in pool]
                ready = set(wait(waitables))
                for w in list(pool):
                    alive = w.proc.sentinel not in ready
                    if w.conn in ready or not alive:
                        alive = self._drain(w, context, on_progress, by_index, finish,
                                            to_render) and alive
                    if alive:
                        continue
                    # the worker died: take its track back, start another one in its place
                    pool.remove(w)
                    w.proc.join(timeout=5)
                    code = w.proc.exitcode
                    how = (f"killed by signal {-code}" if code is not None and code < 0
                           else f"exit code {code}")
                    if not w.ready:
                        raise Midi2ImgError(f"a {w.role} worker process died while starting "
                                            f"({how})")
                    if w.busy is not None:
                        job, payload = w.busy
                        deaths[job.index] = deaths.get(job.index, 0) + 1
                        if deaths[job.index] > self.retries:
                            finish(job, TrackResult(
                                str(job.track), "failed", None,
                                f"{job.track}: the worker process converting it died "
                                f"{deaths[job.index]} time(s) ({how})", 1))
                        elif w.role == "render":
                            to_render.appendleft((job, payload))
                        else:
                            todo.appendleft(job)
                    restarts += 1
                    if restarts > len(jobs) + 2 * len(pool) + 2:
                        raise Midi2ImgError("worker processes keep dying; giving up")
                    if len(results) < len(jobs):
                        pool.append(self._start(ctx, w.role, options, w.gpu, threads))
        finally:
            self._stop(pool)
        return [results[job.index] for job in jobs]

    def _drain(self, w: _Worker, context: ConvertContext, on_progress: JobProgress | None,
               by_index: dict[int, Job], finish: Any, to_render: deque[tuple[Job, Any]]
               ) -> bool:
        """Handle every message waiting from ``w``; False when its pipe is closed."""
        from midi2img.convert import TrackResult

        while True:
            try:
                if not w.conn.poll():
                    return True
                msg = w.conn.recv()
            except (EOFError, OSError):
                return False
            kind = msg[0]
            if kind == "ready":
                w.ready = True
            elif kind == "fatal":
                raise _error(msg[1], msg[2])
            elif kind == "warn":
                context.warn(msg[1])
            elif kind == "progress":
                if on_progress is not None and msg[1] in by_index:
                    on_progress(by_index[msg[1]], msg[2], msg[3])
            elif kind == "prepared":
                job = by_index[msg[1]]
                w.busy = None
                if isinstance(msg[2], TrackResult):
                    finish(job, msg[2])
                else:
                    to_render.append((job, msg[2]))
            elif kind == "result":
                w.busy = None
                finish(by_index[msg[1]], msg[2])

    @staticmethod
    def _stop(pool: list[_Worker]) -> None:
        """Ask every worker to stop; end those that do not within a few seconds."""
        for w in pool:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in pool:
            w.proc.join(timeout=10 if w.busy is None else 0.1)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
