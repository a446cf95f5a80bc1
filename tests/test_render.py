"""The image backends (:mod:`midi2img.render`) through ``convert``: a tiny randomly initialised SD
pipeline built here, the offline fallback, storyboards, the backend registry, and one clear error
line for each model/size mistake (a named model that cannot load, no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import cadence_midi, nonblank_lines, run_cli
from midi2img.cli import app
from midi2img.demo import progression_midi

runner = CliRunner()
SD = ["--steps", "2", "--width", "64", "--height", "64"]


@pytest.fixture(scope="session")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("midi")
    a = d / "bright.mid"
    progression_midi(bars=8).write(str(a))
    # a contrasting track: A minor, fast, loud, high
    pm = pretty_midi.PrettyMIDI(initial_tempo=160.0)
    inst = pretty_midi.Instrument(program=0)
    beat = 60 / 160
    for i in range(64):
        for p in ((69, 72, 76), (65, 69, 72), (64, 67, 71), (69, 72, 76))[(i // 8) % 4]:
            inst.notes.append(pretty_midi.Note(115, p + 12, i * beat, i * beat + 0.6 * beat))
    pm.instruments.append(inst)
    b = d / "dark.mid"
    pm.write(str(b))
    return a, b


@pytest.fixture()
def load_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts diffusers pipeline loads."""
    import diffusers

    calls: list[str] = []
    real = diffusers.AutoPipelineForText2Image.from_pretrained

    def counting(src: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(src))
        return real(src, *args, **kwargs)

    monkeypatch.setattr(diffusers.AutoPipelineForText2Image, "from_pretrained", counting)
    return calls


def _px(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_convert_with_tiny_sd_pipeline(tiny_model: Path, tracks: tuple[Path, Path],
                                       load_counter: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(tracks[0]), str(tracks[1]), "-o", str(out),
                            "--image", "sd", "--model", str(tiny_model), "--segments", "4", *SD])
    assert r.exit_code == 0, r.output
    assert len(load_counter) == 1, "the pipeline must be loaded once for all tracks"
    seeds = []
    for stem in ("bright", "dark"):
        folder = out / stem
        assert Image.open(folder / f"{stem}.png").size == (64, 64)
        secs = sorted(p.name for p in folder.glob("section-*.png"))
        assert secs == [f"section-0{i}.png" for i in range(1, 5)]
        assert all(Image.open(folder / s).size == (64, 64) for s in secs)
        sheet = Image.open(folder / "storyboard.png")
        assert sheet.width > 2 * 64 and sheet.height > 64
        d = json.loads((folder / "analysis.json").read_text())
        img = d["image"]
        assert img["renderer"] == "stable-diffusion" and img["model"] == str(tiny_model)
        assert img["steps"] == 2 and img["seed_source"] == "content_hash"
        assert img["file"] == f"{stem}.png"
        assert d["segmentation"] == {"requested": 4, "method": "equal", "count": 4}
        assert [s["seed"] for s in d["sections"]] == [img["seed"] + i for i in range(1, 5)]
        assert [s["file"] for s in d["sections"]] == secs
        starts = [s["start_s"] for s in d["sections"]]
        assert starts[0] == 0.0 and starts == sorted(starts)
        assert abs(d["sections"][-1]["end_s"] - d["duration_s"]) < 0.05
        assert all(s["prompt"] and s["keywords"] for s in d["sections"])
        meta = Image.open(folder / f"{stem}.png").text
        assert meta["Renderer"] == "stable-diffusion" and meta["Seed"] == str(img["seed"])
        seeds.append(img["seed"])
    assert seeds[0] != seeds[1], "different audio -> different seeds"

    # same track + options -> same pixels; another seed -> other pixels
    again = tmp_path / "again"
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(again), "--image", "sd",
                            "--model", str(tiny_model), *SD])
    assert r.exit_code == 0, r.output
    assert np.array_equal(_px(again / "bright" / "bright.png"), _px(out / "bright" / "bright.png"))
    other = tmp_path / "other"
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(other), "--image", "sd",
                            "--model", str(tiny_model), "--seed", "7", *SD])
    assert r.exit_code == 0, r.output
    d = json.loads((other / "bright" / "analysis.json").read_text())
    assert d["image"]["seed"] == 7 and d["image"]["seed_source"] == "--seed"
    assert not np.array_equal(_px(other / "bright" / "bright.png"),
                              _px(out / "bright" / "bright.png"))


def test_scheduler_and_low_memory_options(tiny_model: Path, tracks: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    from midi2img.render import RenderOptions
    from midi2img.render.diffusion import DiffusionBackend

    r = DiffusionBackend(RenderOptions(model=str(tiny_model), steps=2, width=64, height=64,
                                        scheduler="euler-a", attention_slicing=True,
                                        cpu_offload=True, device="cpu"))
    first = r.render("a quiet lake", seed=3)
    second = r.render("a quiet lake", seed=3)
    assert r.loads == 1 and first.scheduler == "euler-a" and first.device == "cpu"
    assert first.dtype == "float32" and any("cpu-offload" in n for n in first.notes)
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_missing_model_folder_is_one_line(tracks: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(out), "--image", "sd",
                            "--model", "does/not/exist"])
    assert r.exit_code == 3
    line = _one_line(r.stderr)
    assert line.startswith("error:") and "does/not/exist" in line
    assert not out.exists()


def test_uncached_hub_id_offline(tracks: tuple[Path, Path], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(tmp_path / "o"), "--image",
                            "sd", "--model", "midi2img-tests/no-such-model"])
    assert r.exit_code == 3
    line = _one_line(r.stderr)
    assert "midi2img-tests/no-such-model" in line and "HF_HUB_OFFLINE" in line
    assert "--model" in line and "download" in line


def test_auto_falls_back_to_the_abstract_image(tracks: tuple[Path, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model, not in an empty Hugging Face cache: abstract images, said once."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("MIDI2IMG_MODEL", raising=False)
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(tracks[0]), str(tracks[1]), "-o", str(out),
                            "--segments", "auto"])
    assert r.exit_code == 0, r.output
    line = _one_line(r.stderr)
    assert "sd-turbo" in line and "abstract" in line
    for stem in ("bright", "dark"):
        d = json.loads((out / stem / "analysis.json").read_text())
        assert d["image"]["renderer"] == "abstract (offline, not Stable Diffusion)"
        assert "sd-turbo" in d["image"]["fallback_reason"]
        png = Image.open(out / stem / f"{stem}.png")
        assert png.size == (512, 512) and "not Stable Diffusion" in png.text["Renderer"]
        assert d["segmentation"]["method"] == "novelty"
        assert len(d["sections"]) == d["segmentation"]["count"] >= 1
    assert np.abs(_px(out / "bright" / "bright.png").astype(float)
                  - _px(out / "dark" / "dark.png")).mean() > 20


def test_image_none_and_abstract(tracks: tuple[Path, Path], tmp_path: Path) -> None:
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(tmp_path / "n"), "--image",
                            "none", "--segments", "2"])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "n" / "bright"
    assert not list(folder.glob("*.png"))
    d = json.loads((folder / "analysis.json").read_text())
    assert d["image"] is None and len(d["sections"]) == 2 and d["sections"][0]["prompt"]
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(tmp_path / "a"), "--image",
                            "abstract", "--width", "96", "--height", "64"])
    assert r.exit_code == 0 and not r.stderr.strip()
    assert Image.open(tmp_path / "a" / "bright" / "bright.png").size == (96, 64)


def test_corrupt_model_keeps_earlier_output(tiny_model: Path, tracks: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert runner.invoke(app, ["convert", str(tracks[0]), "-o", str(out), "--image",
                               "abstract"]).exit_code == 0
    before = (out / "bright" / "bright.png").read_bytes()
    bad = tmp_path / "corrupt"
    shutil.copytree(tiny_model, bad)
    (bad / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(out), "--force", "--image", "sd",
                            "--model", str(bad), *SD])
    assert r.exit_code == 3
    line = _one_line(r.stderr)
    assert str(bad) in line and "corrupt" in line
    assert (out / "bright" / "bright.png").read_bytes() == before
    (bad / "model_index.json").unlink()
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(out), "--force", "--image", "sd",
                            "--model", str(bad)])
    assert r.exit_code == 3 and "model_index.json" in _one_line(r.stderr)


def test_bad_size_fails_before_loading(tiny_model: Path, tracks: tuple[Path, Path],
                                       load_counter: list[str], tmp_path: Path) -> None:
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(tmp_path / "o"), "--image", "sd",
                            "--model", str(tiny_model), "--width", "100"])
    assert r.exit_code == 2
    assert "multiple" in _one_line(r.stderr) and "--width 100" in r.stderr
    assert load_counter == [] and not (tmp_path / "o").exists()
    r = run_cli("convert", str(tracks[0]), "-o", str(tmp_path / "o"), "--scheduler", "nope")
    assert r.returncode == 2 and "euler" in _one_line(r.stderr)
    r = runner.invoke(app, ["convert", str(tracks[0]), "-o", str(tmp_path / "o"), "--segments",
                            "many"])
    assert r.exit_code == 2 and "--segments" in _one_line(r.stderr)


def test_seed_from_hash_is_stable() -> None:
    from midi2img.render import seed_from_hash

    assert seed_from_hash("abc") == seed_from_hash("abc") != seed_from_hash("abd")
    assert 0 <= seed_from_hash("abc") < 2**31


def test_a_failed_image_fails_only_its_track(tiny_model: Path, tracks: tuple[Path, Path],
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """--image sd, or auto with a model the user named: a render error fails that track, the
    next one still gets done; auto with the default model: the picture falls back to the
    abstract renderer."""
    from midi2img.errors import ModelError
    from midi2img.render.diffusion import DiffusionBackend

    real = DiffusionBackend.render
    calls: list[int] = []

    def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ModelError("Stable Diffusion failed: out of memory (simulated)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DiffusionBackend, "render", flaky)
    out = tmp_path / "sd"
    r = runner.invoke(app, ["convert", str(tracks[0]), str(tracks[1]), "-o", str(out),
                            "--image", "sd", "--model", str(tiny_model), *SD])
    assert r.exit_code == 3 and "1 of 2 track(s) failed" in r.stderr
    assert not (out / "bright").exists() and (out / "dark" / "dark.png").is_file()
    calls.clear()
    out = tmp_path / "auto-named"
    r = runner.invoke(app, ["convert", str(tracks[0]), str(tracks[1]), "-o", str(out),
                            "--model", str(tiny_model), *SD])
    assert r.exit_code == 3 and "simulated" in r.stderr
    assert not (out / "bright").exists() and (out / "dark" / "dark.png").is_file()

    from midi2img.render import ImageMaker, ImageRequest, RenderOptions

    calls.clear()
    maker = ImageMaker("auto", RenderOptions(model=str(tiny_model), model_named=False, steps=2,
                                             width=64, height=64))
    request = ImageRequest({"key": "C major"}, "a quiet lake", "", seed=3)
    first = maker.draw(request)
    second = maker.draw(request)
    assert "simulated" in (first.fallback_reason or "") and "not Stable Diffusion" in (
        first.renderer)
    assert second.renderer == "stable-diffusion" and second.image.size == (64, 64)


def test_backends_and_schedulers_are_registered() -> None:
    from midi2img.render import BACKENDS, SCHEDULERS, RenderOptions, create_backend, image_modes

    usage = " ".join(runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"})
                     .stdout.split())
    assert f"--scheduler <{'|'.join(SCHEDULERS)}>" in usage
    assert image_modes() == ("auto", *BACKENDS, "none")
    assert f"--image <{'|'.join(image_modes())}>" in usage
    backend = create_backend("abstract", RenderOptions(width=64, height=48))
    assert backend.ready and backend.name == "abstract"
    with pytest.raises(Exception, match="unknown image backend"):
        create_backend("nope", RenderOptions())


def test_rendered_records_its_settings_in_the_order_analysis_json_keeps() -> None:
    """``Rendered.to_dict`` is what analysis.json and the PNG metadata hold: the settings that
    apply, always in one order (the bytes of those files depend on it)."""
    from dataclasses import replace

    from midi2img.render import Rendered

    sd = Rendered(None, renderer="stable-diffusion", seed=7, width=64, height=48, model="m",
                  steps=2, guidance=0.0, scheduler="euler", pipeline="P", device="cpu",
                  dtype="float32", safety_checker="on", negative_prompt_used=False,
                  nsfw_detected=False, notes=("n",))
    assert list(sd.to_dict().items()) == [
        ("renderer", "stable-diffusion"), ("model", "m"), ("seed", 7), ("steps", 2),
        ("guidance", 0.0), ("scheduler", "euler"), ("pipeline", "P"), ("width", 64),
        ("height", 48), ("device", "cpu"), ("dtype", "float32"), ("safety_checker", "on"),
        ("negative_prompt_used", False), ("nsfw_detected", False), ("notes", ["n"])]
    plain = Rendered(None, renderer="abstract", seed=3, width=96, height=64)
    assert plain.to_dict() == {"renderer": "abstract", "seed": 3, "width": 96, "height": 64}
    late = replace(plain, extra={"palette": "warm"}, fallback_reason="no model")
    assert list(late.to_dict()) == ["renderer", "seed", "width", "height", "palette",
                                    "fallback_reason"]
    with pytest.raises(ValueError, match="size"):
        Rendered(None, renderer="abstract", seed=3, width=0, height=64)


class ToyBackend:
    """A backend registered by a test: a flat picture in the colour of the track's quadrant."""

    COLOURS = {"Q1": (250, 200, 40), "Q2": (200, 30, 30), "Q3": (40, 60, 160),
               "Q4": (60, 180, 120), None: (128, 128, 128)}

    def __init__(self, options) -> None:  # type: ignore[no-untyped-def]
        self.options = options

    def ready(self) -> bool:
        return True

    def prepare(self) -> None:
        pass

    def draw(self, request):  # type: ignore[no-untyped-def]
        from PIL import Image

        from midi2img.render import Rendered

        quadrant = (request.analysis.get("affect") or {}).get("quadrant")
        image = Image.new("RGB", (64, 48), self.COLOURS[quadrant])
        return Rendered(image, renderer="toy", seed=request.seed, width=64, height=48)


def test_a_backend_is_one_module_and_one_registry_line(tmp_path, monkeypatch) -> None:
    """The README's "where to touch" row: a class following ImageBackend and one line in
    BACKENDS make ``--image NAME`` draw with it, through convert and into analysis.json."""
    import json

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from midi2img.cli import app
    from midi2img.notes import Notes
    from midi2img.render import BACKENDS

    monkeypatch.setitem(BACKENDS, "toy", f"{__name__}:ToyBackend")
    mid = tmp_path / "c.mid"
    pitches = np.array([60, 64, 67, 72] * 4)
    onsets = np.arange(16) * 0.5
    Notes.from_arrays(onsets, onsets + 0.45, pitches, np.full(16, 90)).to_pretty_midi() \
        .write(str(mid))
    r = CliRunner().invoke(app, ["convert", str(mid), "-o", str(tmp_path / "out"),
                                 "--image", "toy", "-q"])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "out" / "c"
    data = json.loads((folder / "analysis.json").read_text())
    assert data["image"]["renderer"] == "toy" and data["image"]["file"] == "c.png"
    with Image.open(folder / "c.png") as img:
        assert img.size == (64, 48)
        assert img.convert("RGB").getpixel((0, 0)) == ToyBackend.COLOURS[
            data["affect"]["quadrant"]]
    bad = CliRunner().invoke(app, ["convert", str(mid), "-o", str(tmp_path / "o2"),
                                   "--image", "nope"])
    assert bad.exit_code == 2 and "toy" in bad.output


def test_a_named_model_must_load_and_no_network_fails_fast(tmp_path: Path) -> None:
    """A model the user names that cannot load is exit 3 with one line (nothing written);
    with no network, ``--image sd`` fails at once, without retries."""
    mid = cadence_midi(tmp_path / "a.mid")
    r = run_cli("convert", str(mid), "-o", str(tmp_path / "o"), "--model", "/no/such/folder")
    assert r.returncode == 3 and len(nonblank_lines(r.stderr)) == 1
    assert "/no/such/folder" in r.stderr
    assert not (tmp_path / "o").exists()
    r = run_cli("convert", str(mid), "-o", str(tmp_path / "o"), env={"MIDI2IMG_MODEL": "/no/such"})
    assert r.returncode == 3
    # --image sd with no network: one line, no retries (a closed local port stands for the Hub)
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HOME": str(tmp_path / "hf")}
    r = run_cli("convert", str(mid), "-o", str(tmp_path / "o"), "--image", "sd", "--model",
                "someone/some-model", env=env, timeout=60)
    assert r.returncode == 3 and len(nonblank_lines(r.stderr)) == 1, r.stderr
    assert "cannot be reached" in r.stderr and "Retry" not in r.stderr
