"""Packaging: models/, gtzan/ and keywords/ ship inside the wheel and load via importlib, ``--help``
imports no heavy stack, and the licences of the code and the shipped models are stated."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and untracked ones git does not ignore) copied to
    ``dest``: the wheel is built there, so a stale ``build/`` folder in the checkout can neither
    leak old files into it nor be left behind by the test."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_wheel_ships_data_packages(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("midi2img-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("midi2img/cli/__init__.py", "midi2img/features/record.py",
                   "midi2img/mood/model.py", "midi2img/render/diffusion.py",
                   "midi2img/runners/sequential.py", "midi2img/report/text.py",
                   "midi2img/models/genre/genre_mlp.npz", "midi2img/models/mood/mood.npz",
                   "midi2img/models/mood_audio/mood_audio.npz", "midi2img/registry.py",
                   "midi2img/keywords/rules.toml", "midi2img/keywords/tags.toml",
                   "midi2img/keywords/tag_thresholds.toml",
                   "midi2img/models/musicnn/msd_musicnn.onnx",
                   "midi2img/keywords/styles.toml", "midi2img/models/clip_tokenizer/tokenizer.json",
                   "midi2img/gtzan/__init__.py"):
        assert needed in names, needed
    assert any(n.startswith("midi2img/gtzan/splits/") for n in names)
    assert not any(n.endswith((".csv", ".ogg", ".zip")) for n in names), "no shared data shipped"
    assert not any(n.endswith(".keras") for n in names), "nothing loads .keras files at run time"


def test_resources_resolve_without_cwd(tmp_path: Path) -> None:
    code = ("from importlib import resources; "
            "print((resources.files('midi2img.keywords') / 'rules.toml').is_file())")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == "True"


def test_help_does_not_import_heavy_stacks() -> None:
    code = ("import sys, midi2img.cli; "
            "print(sorted(m for m in ('tensorflow', 'torch', 'librosa', 'onnxruntime', "
            "'diffusers') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_licences_are_stated() -> None:
    """The code's licence (MIT) is stated, and each shipped model's card states its data's."""
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"file": "LICENSE"}
    from midi2img.modeling import SHIPPED

    genre_card = (SHIPPED["genre"].path() / "MODEL_CARD.md").read_text()
    mood_card = (SHIPPED["affect"].path() / "MODEL_CARD.md").read_text()
    assert "research use" in genre_card and "GTZAN" in genre_card
    assert "CC BY-NC-SA 4.0" in mood_card and "non-commercial" in mood_card
