"""Progress on stderr (:mod:`midi2img.cli.progress`): drawn when stderr is a terminal, never
mixed into ``--json`` output on stdout, and silenced by ``--quiet``."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys


def _run_with_tty_stderr(*args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in a shell) and stdout on a pipe."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "midi2img.cli", *args], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode() if proc.stdout else ""
    os.close(master)
    return proc.wait(), out, err.decode(errors="replace")


def test_progress_on_a_terminal_never_in_json(demo_files) -> None:
    code, out, err = _run_with_tty_stderr("keywords", str(demo_files[1]), "--json")
    assert code == 0
    assert json.loads(out)["key"] == "C major"  # stdout holds the JSON and nothing else
    assert "transcribing" in err and "demo.wav" in err
    code, out, err = _run_with_tty_stderr("keywords", str(demo_files[1]), "--json", "--quiet")
    assert code == 0 and json.loads(out) and err.strip() == ""
