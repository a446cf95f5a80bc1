"""The analysis stages: the registry, the protocol, and the template stage registered for real.

``midi2img/stages/template.py`` (loudness) is the contributors' example. Registered here, it must
reach every place a stage's result goes: ``analysis.json``, ``keywords``' terminal report, the
HTML report, the keyword rules, MIDI input's ``omitted`` and each section of a storyboard.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from midi2img.stages import STAGES, Stage, registered, stages

TEMPLATE = "midi2img.stages.template:LoudnessStage"
SR = 22050


def _two_levels(path: Path, *, loud: float = 0.5, soft: float = 0.05, half_s: float = 3.0
                ) -> Path:
    """A 440 Hz tone: ``half_s`` seconds at amplitude ``loud``, then as long at ``soft``."""
    t = np.arange(int(half_s * SR)) / SR
    tone = np.sin(2 * np.pi * 440.0 * t)
    sf.write(path, np.concatenate([loud * tone, soft * tone]).astype(np.float32), SR)
    return path


def _dbfs(amplitude: float) -> float:
    return 20 * math.log10(amplitude / math.sqrt(2))  # a sine's RMS is its amplitude / sqrt(2)


def test_registry_order_names_and_requirements() -> None:
    names = [s.name for s in stages()]
    assert names == ["transcription", "beats", "tempo", "tags", "genre", "sound", "key",
                     "chords", "notes", "affect"]
    for i, st in enumerate(stages()):
        assert set(st.requires) | set(st.uses) <= set(names[:i]), st.name
    keys = [k for st in stages() for k in st.contract_keys]
    assert len(keys) == len(set(keys)), "two stages fill one contract key"


def test_registry_refuses_a_stage_before_what_it_reads() -> None:
    from midi2img.stages import _load

    with pytest.raises(ValueError, match="chords reads transcription, tempo, key, which must"):
        _load(("midi2img.stages.chords:Chords",))
    with pytest.raises(ValueError, match="two stages are named 'key'"):
        _load(("midi2img.stages.transcription:Transcription", "midi2img.stages.key:Key",
               "midi2img.stages.key:Key"))


def test_skip_reasons_follow_switch_input_and_model() -> None:
    from midi2img.analysis import AnalysisOptions
    from midi2img.stages import StageContext, stage

    audio = StageContext(AnalysisOptions(), "audio", Path("x.wav"))
    midi = StageContext(AnalysisOptions(), "midi", Path("x.mid"))
    off = StageContext(AnalysisOptions(use_genre=False, use_tags=False), "midi", Path("x.mid"))
    assert stage("genre").skip_reason(audio) is None
    assert stage("genre").skip_reason(midi) == ("MIDI input has no audio to score with the GTZAN "
                                                "genre network")
    assert stage("genre").skip_reason(off) == "switched off"  # the switch comes first
    assert stage("tags").skip_reason(off) == "switched off"
    no_tags = StageContext(AnalysisOptions(use_tags=False), "audio", Path("x.wav"))
    assert stage("affect").skip_reason(no_tags) == ("the affect model of recordings reads the "
                                                    "audio taggers, which are off")
    assert stage("affect").model_for("audio") == "affect_audio"
    assert stage("affect").model_for("midi") == "affect"


def test_the_template_stage_reaches_contract_report_rules_and_sections(tmp_path: Path) -> None:
    from midi2img.analysis import analyse_track
    from midi2img.report.html import render_report
    from midi2img.report.text import render_table
    from midi2img.rules import apply_rules, known_features, parse_rules

    wav = _two_levels(tmp_path / "levels.wav")
    assert "loudness_rms_dbfs" not in known_features()
    before = list(STAGES)
    with registered(TEMPLATE) as st:
        assert isinstance(st, Stage) and st.name == "loudness"
        assert "loudness_rms_dbfs" in known_features()
        a = analyse_track(wav, segments=2)
        d = a.to_dict()
        # the contract: after the stages' keys, before what the rules made of them
        keys = list(d)
        assert keys.index("tags") < keys.index("loudness") < keys.index("keywords")
        mean_power = (0.5**2 + 0.05**2) / 4  # half the time at each level
        assert d["loudness"]["rms_dbfs"] == pytest.approx(10 * math.log10(mean_power), abs=0.05)
        assert d["loudness"]["peak_dbfs"] == pytest.approx(20 * math.log10(0.5), abs=0.05)
        assert a.timings_s["loudness"] > 0
        # the terminal report of `keywords`
        table = render_table(d)
        assert f"  loudness       {d['loudness']['rms_dbfs']:.1f} dBFS RMS, peak" in table
        # the HTML report: its own describe() line, in the card of what the other cards do not
        # draw
        line = (f"{d['loudness']['rms_dbfs']:.1f} dBFS RMS, peak "
                f"{d['loudness']['peak_dbfs']:.1f} dBFS")
        page = render_report(d)
        assert f'<dt>loudness</dt><dd data-feature="loudness">{line}</dd>' in page
        assert page.count('data-section="features"') == 1
        # a keyword rule may test its feature, and fires on its value
        rule = {"id": "loud", "feature": "loudness_rms_dbfs", "min": -20.0,
                "source": "a test rule",
                "keywords": [{"text": "blaring", "weight": 0.9, "kind": "texture"}]}
        book = parse_rules({"rule": [rule], "genre": _genre_table()})
        kws = apply_rules(a.feature_values(), rules=book)
        hit = next(k for k in kws if k.keyword == "blaring")
        assert hit.rule == "loud"
        assert "loudness_rms_dbfs = -12 (loudness_rms_dbfs >= -20" in hit.because
        # each section of the storyboard has its own level
        (s1, s2) = a.sections
        assert s1.analysis is not None and s2.analysis is not None
        lo1 = s1.analysis.to_dict()["loudness"]["rms_dbfs"]
        lo2 = s2.analysis.to_dict()["loudness"]["rms_dbfs"]
        assert lo1 == pytest.approx(_dbfs(0.5), abs=0.1)
        assert lo2 == pytest.approx(_dbfs(0.05), abs=0.1)
        # MIDI input: null, with the stage's reason
        from midi2img.notes import Notes

        mid = tmp_path / "c.mid"
        Notes.from_arrays(np.array([0.0, 0.5]), np.array([0.5, 1.0]), np.array([60, 64]),
                          np.array([80, 80])).to_pretty_midi().write(str(mid))
        m = analyse_track(mid).to_dict()
        assert m["loudness"] is None and m["omitted"]["loudness"] == "MIDI input has no audio level"
        assert 'data-section="features"' not in render_report(m)  # nothing to show
    assert STAGES == before and "loudness_rms_dbfs" not in known_features()
    # unregistered, the report still shows the stage's values, as they are in the file
    assert ('<dt>loudness.rms_dbfs</dt><dd data-feature="loudness.rms_dbfs">'
            f"{d['loudness']['rms_dbfs']:.4g}</dd>") in render_report(d)
    with pytest.raises(Exception, match="loudness_rms_dbfs"):
        parse_rules({"rule": [rule], "genre": _genre_table()})


def test_keywords_json_prints_a_registered_stage(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from midi2img.cli import app

    wav = _two_levels(tmp_path / "levels.wav")
    with registered(TEMPLATE):
        r = CliRunner().invoke(app, ["keywords", str(wav), "--json", "-q"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["loudness"]["peak_dbfs"] == pytest.approx(20 * math.log10(0.5), abs=0.05)


def _genre_table() -> dict[str, object]:
    from midi2img.constants import GTZAN_GENRES

    return {"keywords": {g: [{"text": f"{g} imagery", "weight": 0.5, "kind": "genre"}]
                         for g in GTZAN_GENRES}}
