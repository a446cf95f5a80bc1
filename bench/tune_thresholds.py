"""Tune Basic Pitch's decoding thresholds on piano rendered from known MIDI.

Material: the demo progression and the first 30 s of VGMIDI piano pieces (every 20th file, in
name order), rendered with fluidsynth and the GM soundfont; the MIDI is the ground truth. The
model runs once per clip; each threshold setting only re-runs Basic Pitch's note decoder.
Scored with mir_eval's note F1 (onset within 50 ms, pitch, offsets ignored).

Usage: python bench/tune_thresholds.py [--out bench/tuning.md]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np


def _clips(tmp: Path) -> list[tuple[str, np.ndarray, object]]:
    import pretty_midi

    from midi2img.audio import load
    from midi2img.config import data_dir
    from midi2img.demo import progression_midi
    from midi2img.synth import render_midi_file

    pms: list[tuple[str, object]] = [("demo (I-V-vi-IV)", progression_midi(bars=16))]
    midi_dir = data_dir() / "vgmidi" / "midi"
    for f in sorted(midi_dir.glob("*.mid"))[::20]:
        pm = pretty_midi.PrettyMIDI(str(f))
        for inst in pm.instruments:
            inst.notes = [n for n in inst.notes if n.start < 30.0]
            inst.program = 0
        pms.append((f.stem[:40], pm))
    out = []
    for i, (name, pm) in enumerate(pms):
        mid, wav = tmp / f"{i}.mid", tmp / f"{i}.wav"
        pm.write(str(mid))  # type: ignore[attr-defined]
        render_midi_file(mid, wav)
        out.append((name, load(wav), pm))
    return out


def main() -> None:
    import mir_eval
    import pretty_midi

    from midi2img.transcribe import (
        TranscriptionOptions,
        _model_outputs,
        load_backend,
        notes_from_activations,
    )

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/tuning.md")
    args = ap.parse_args()
    backend = load_backend()
    with tempfile.TemporaryDirectory() as tmp:
        clips = _clips(Path(tmp))
    acts = [(_model_outputs(audio, backend), pm) for _, audio, pm in clips]
    grid = list(itertools.product((0.5, 0.6, 0.7, 0.8), (0.3, 0.4, 0.5), (58.0, 127.7)))
    rows = []
    for onset, frame, min_ms in grid:
        opts = TranscriptionOptions(onset_threshold=onset, frame_threshold=frame,
                                    min_note_length_ms=min_ms)
        f1s = []
        for (frames, onsets), pm in acts:
            ref = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]  # type: ignore[attr-defined]
            ref_iv = np.array([[n.start, max(n.end, n.start + 0.01)] for n in ref])
            ref_hz = pretty_midi.note_number_to_hz(np.array([n.pitch for n in ref]))
            ev = notes_from_activations(frames, onsets, opts)
            if not ev:
                f1s.append(0.0)
                continue
            est_iv = np.array([[a, b] for a, b, _, _ in ev])
            est_hz = pretty_midi.note_number_to_hz(np.array([p for _, _, p, _ in ev], float))
            f1s.append(mir_eval.transcription.precision_recall_f1_overlap(
                ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=0.05, offset_ratio=None)[2])
        rows.append((float(np.mean(f1s)), onset, frame, min_ms, f1s))
        print(f"onset {onset} frame {frame} min {min_ms:.0f} ms: mean F1 {np.mean(f1s):.3f}",
              flush=True)
    rows.sort(key=lambda r: -r[0])
    names = [n for n, _, _ in clips]
    lines = ["# Basic Pitch threshold tuning (note F1, onset 50 ms, offsets ignored)", "",
             "Clips: " + "; ".join(names), "",
             "| onset | frame | min note (ms) | mean F1 | " + " | ".join(
                 f"clip {i}" for i in range(len(names))) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for mean, onset, frame, min_ms, f1s in rows:
        lines.append(f"| {onset} | {frame} | {min_ms:.0f} | {mean:.3f} | "
                     + " | ".join(f"{f:.3f}" for f in f1s) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"best: onset {rows[0][1]} frame {rows[0][2]} min {rows[0][3]} F1 {rows[0][0]:.3f}")


if __name__ == "__main__":
    main()
