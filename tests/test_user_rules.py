"""The user's own rules: ``--rules``, ``--style FILE.toml``, ``--add-keyword``,
``--exclude-keyword`` and ``--prompt-template`` (midi2img.user_rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import SMALL, cadence_midi, nonblank_lines
from midi2img.cli import app
from midi2img.errors import InputError, RulesError
from midi2img.keyword import Keyword
from midi2img.prompt import CLIP_MAX_TOKENS, build_prompt, count_tokens, get_style
from midi2img.tag_rules import tag_keywords
from midi2img.user_rules import UserFile, UserRules, load_rule_file, parse_rule_file

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "my-rules.toml"

_RULE = '''
[[rule]]
id = "r3"
feature = "tempo_bpm"
min = 90
source = "mine"
keywords = [{ text = "seaside promenade", weight = 0.8, kind = "scene" }]
'''


def _keywords(track: Path, *args: str) -> dict:
    r = runner.invoke(app, ["keywords", str(track), "--json", "-q", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _by_word(d: dict) -> dict[str, dict]:
    return {k["keyword"]: k for k in d["keywords"]}


def test_example_rule_file_adds_overrides_and_disables(tmp_path: Path) -> None:
    """docs/examples/my-rules.toml loads and changes the prompt of a C major cadence at 100 BPM:
    its new rule r3 fires, its mode-major replaces the shipped one, tempo-moderate is off."""
    track = cadence_midi(tmp_path / "c.mid")
    base = _keywords(track)
    mine = _keywords(track, "--rules", str(EXAMPLE))
    b, m = _by_word(base), _by_word(mine)
    assert {"bright", "warm golden light", "flowing"} <= set(b)
    assert not {"bright", "warm golden light", "flowing"} & set(m)
    assert m["seaside promenade"]["rule"] == "r3"
    assert m["seaside promenade"]["weight"] == 0.8
    assert m["seaside promenade"]["because"] == (
        "tempo_bpm = 100 (tempo_bpm >= 90 and < 120; user rule r3 in my-rules.toml: my taste: "
        "a walking pace is a stroll by the sea)")
    assert m["sea breeze"]["kind"] == "texture"
    light = m["pastel morning light"]
    assert light["rule"] == "mode-major" and "user rule mode-major in my-rules.toml" in \
        light["because"]
    assert light["weight"] == pytest.approx(0.9 * 0.98, abs=0.01)  # x key_confidence
    # the overridden cue is still the mood words' evidence, named as the user's rule
    assert "mode = major (user rule mode-major in my-rules.toml)" in m["joyful"]["because"]
    assert "seaside promenade" in mine["prompt"] and "bright" not in mine["prompt"]
    assert "layered" in mine["prompt"]  # the shipped rules it leaves alone still apply


def test_example_rule_file_changes_tag_rules() -> None:
    """The example's tag_rule renames the harpsichord keyword (shipped thresholds kept) and its
    disable list switches the instrumental tag rule off."""
    user = load_rule_file(EXAMPLE)
    assert user is not None
    assert user.added == ("r3",) and user.overridden == ("mode-major", "tag-harpsichord")
    assert user.disabled == ("tempo-moderate", "tag-instrumental")
    ids = [r.id for r in user.tag_rules.rules]
    assert "instrumental" not in ids and "violin" in ids
    harp = user.tag_rules.rule("harpsichord")
    assert [(c.name, c.threshold) for c in harp.when] == [("mtt:harpsichord", 0.22)]
    tags = {"mtt": {"harpsichord": 0.44, "guitar": 0.05}, "msd": {}}
    (kw,) = tag_keywords(tags, book=user.tag_rules)
    assert kw.keyword == "baroque harpsichord" and kw.rule == "tag-harpsichord"
    assert kw.weight == pytest.approx(0.9)  # twice the threshold: the full weight
    assert "user rule tag-harpsichord in my-rules.toml: MagnaTagATune" in kw.because
    (shipped,) = tag_keywords(tags)
    assert shipped.keyword == "harpsichord" and "; rule tag-harpsichord:" in shipped.because
    assert [r.id for r in user.rules.rules][-1] == "r3"


@pytest.mark.parametrize(("text", "line"), [
    (_RULE.replace("tempo_bpm", "tempo_bmp"),
     "bad.toml: rule r3: feature 'tempo_bmp' is not a feature (known: "),
    (_RULE.replace('source = "mine"', 'source = "mine"\nscale_bye = "x"'),
     "bad.toml: rule r3: unknown key 'scale_bye' (expected one of: "),
    (_RULE.replace("0.8", "1.5"),
     "bad.toml: rule r3: keywords #1: weight 1.5 is out of range (expected a number in (0, 1])"),
    (_RULE.replace('kind = "scene"', 'kind = "mood"'),
     "bad.toml: rule r3: gives the mood word 'seaside promenade': mood words come from the "
     "affect estimate"),
    ('disable = ["tempo-fsat"]', "bad.toml: disable 'tempo-fsat': is no shipped rule (cue "
                                 "rules: mode-major, "),
    ('disable = ["r3"]\n' + _RULE, "bad.toml: disable 'r3': is no shipped rule"),
    ('disable = ["tempo-fast"]\n' + _RULE.replace('"r3"', '"tempo-fast"'),
     "bad.toml: disable 'tempo-fast': the file also defines this rule"),
    ('[[tag_rule]]\nid = "piano"\nkeyword = "grand piano"\nkind = "subject"\nweight = 0.9\n'
     'when = ["mtt:piano"]\nsource = "mine"\n',
     "bad.toml: tag_rule piano: is no shipped tag rule: a tag rule's thresholds are measured"),
    ('[[tag_rule]]\nid = "violin"\nkeyword = "fiddle"\nkind = "subject"\nweight = 0.9\n'
     'when = ["mtt:piano"]\nsource = "mine"\n',
     "bad.toml: tag_rule violin: when 'mtt:piano' has no threshold measured for this rule in "
     "keywords/tag_thresholds.toml (measured: "),
    ('[[tag_rule]]\nid = "violin"\nkeyword = "fiddle"\nkind = "subject"\nweight = 0.9\n'
     'when = ["mtt:fiddle"]\nsource = "mine"\n',
     "bad.toml: tag_rule violin: when 'mtt:fiddle' is not a tag: the mtt tagger does not "
     "have it"),
    ("# nothing\n", "bad.toml: holds no rule, tag_rule or disable: nothing to change"),
    ("[[rule]\n", "bad.toml: not valid TOML"),
])
def test_malformed_rule_file_is_one_line(tmp_path: Path, text: str, line: str) -> None:
    """Every problem of a rule file is refused with one line naming the file, the rule and the
    field, as the shipped tables' validator says it."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as exc:
        load_rule_file(bad)
    msg = str(exc.value).replace(str(tmp_path) + "/", "")
    assert msg.startswith(line), msg
    assert "\n" not in msg


def test_malformed_rule_file_leaves_output_untouched(tmp_path: Path) -> None:
    """convert with a bad rule file: exit 2, one line (file, rule, field), and the existing
    output folder is untouched even with --force."""
    track = cadence_midi(tmp_path / "c.mid")
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(track), "-o", str(out), *SMALL, "-q"])
    assert r.exit_code == 0, r.output
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    bad = tmp_path / "bad.toml"
    bad.write_text(_RULE.replace("tempo_bpm", "tempo_bmp"), encoding="utf-8")
    r = runner.invoke(app, ["convert", str(track), "-o", str(out), *SMALL, "-q", "--force",
                            "--rules", str(bad)])
    assert r.exit_code == 2, r.output
    (line,) = nonblank_lines(r.stderr)
    assert line.startswith(f"error: {bad}: rule r3: feature 'tempo_bmp' is not a feature")
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    r = runner.invoke(app, ["keywords", str(track), "--rules", str(tmp_path / "none.toml")])
    assert r.exit_code == 2
    assert nonblank_lines(r.stderr) == [f"error: {tmp_path / 'none.toml'}: cannot read it "
                                        f"(No such file or directory)"]


def test_resume_redoes_a_track_when_the_rule_file_changes(tmp_path: Path) -> None:
    """The options hash holds the rule file's sha256: the same file skips under --resume, the
    same path with other content redoes the track; provenance says what the user changed."""
    track = cadence_midi(tmp_path / "c.mid")
    out = tmp_path / "out"
    rules = tmp_path / "mine.toml"
    rules.write_text(_RULE, encoding="utf-8")
    args = ["convert", str(track), "-o", str(out), *SMALL, "-q", "--json", "--resume",
            "--rules", str(rules), "--add-keyword", "lighthouse"]

    def run() -> tuple[str, dict]:
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        summary = json.loads(r.stdout)
        assert summary["tracks"] == 1 and summary["failed"] == 0, summary
        status = "skipped" if summary["skipped"] else "ok"
        return status, json.loads((out / "c" / "analysis.json").read_text())

    status, first = run()
    assert status == "ok" and "seaside promenade" in first["prompt"]
    prov = first["provenance"]["user_rules"]
    assert prov.startswith(f"--rules {rules} (sha256 ") and "adds r3" in prov
    assert prov.endswith("; --add-keyword 'lighthouse'")
    assert run()[0] == "skipped"
    rules.write_text(_RULE.replace("seaside promenade", "harbour lights"), encoding="utf-8")
    status, second = run()
    assert status == "ok"
    assert "harbour lights" in second["prompt"] and "seaside promenade" not in second["prompt"]
    assert second["provenance"]["options_sha256"] != first["provenance"]["options_sha256"]


def test_add_and_exclude_keywords(tmp_path: Path) -> None:
    """--add-keyword puts a word in at weight 1 with its reason; --exclude-keyword takes one
    out (case-insensitive); both naming one word is refused."""
    track = cadence_midi(tmp_path / "c.mid")
    d = _keywords(track, "--add-keyword", "a lighthouse", "--add-keyword", "gulls",
                  "--exclude-keyword", "BRIGHT", "--exclude-keyword", "lush")
    k = _by_word(d)
    assert k["a lighthouse"] == {"keyword": "a lighthouse", "weight": 1.0,
                                 "because": "--add-keyword (the user's own word)",
                                 "kind": "subject", "rule": "user-add"}
    assert "gulls" in k and "bright" not in k and "lush" not in k
    assert d["prompt"].startswith("an expressive oil painting, a lighthouse, gulls, ")
    assert "warm golden light" in k  # only the named keyword goes
    with pytest.raises(InputError, match="both name 'gulls'"):
        UserRules(add_keywords=("gulls",), exclude_keywords=("Gulls",))


def test_prompt_template_keeps_the_budget(tmp_path: Path) -> None:
    """{keywords} and {style} (the style's lead and tail) lay the prompt out; it still fits
    CLIP's 77 tokens, keywords dropped lightest first."""
    track = cadence_midi(tmp_path / "c.mid")
    d = _keywords(track, "--prompt-template", "{keywords}, in the manner of {style}")
    assert d["prompt"].startswith("joyful, upbeat, ")
    assert d["prompt"].endswith(", in the manner of an expressive oil painting, visible brush "
                                "strokes, fine art, masterpiece")
    many = [Keyword(f"word{i} thing{i}", 1.0 - i / 100, "x", "scene", "r") for i in range(60)]
    p = build_prompt(many, style=get_style("photo"), template="{style}; {keywords}")
    assert p.tokens <= CLIP_MAX_TOKENS == 77 and count_tokens(p.positive) == p.tokens
    assert p.used == tuple(k.keyword for k in many[:len(p.used)]) and p.dropped
    assert p.positive.startswith("a cinematic photograph, 35mm, shallow depth of field")
    assert build_prompt([], template="{style}, {keywords}").positive.endswith("masterpiece")
    for bad, why in (("{kw}", "unknown placeholder {kw}"), ("{style}", "it needs {keywords}"),
                     ("{keywords", "expected '}'"), ("{keywords:>9}", "unknown placeholder")):
        r = runner.invoke(app, ["keywords", str(track), "--prompt-template", bad])
        assert r.exit_code == 2 and why in r.stderr, r.stderr
        assert len(nonblank_lines(r.stderr)) == 1


def test_style_file(tmp_path: Path) -> None:
    """--style FILE.toml selects the file's only style (or its default); several styles and no
    default is refused; a style file is checked like keywords/styles.toml."""
    track = cadence_midi(tmp_path / "c.mid")
    one = tmp_path / "ink.toml"
    one.write_text('[style.ink]\nlead = "an ink drawing"\ntail = "sumi-e"\n'
                   'negative = "color, text"\norder = ["motion", "light"]\n', encoding="utf-8")
    d = _keywords(track, "--style", str(one))
    assert d["style"] == "ink" and d["negative_prompt"] == "color, text"
    assert d["prompt"].startswith("an ink drawing, flowing, bright") and \
        d["prompt"].endswith(", sumi-e")
    two = tmp_path / "two.toml"
    two.write_text(one.read_text() + '[style.wash]\nlead = "a wash"\nnegative = "text"\n',
                   encoding="utf-8")
    r = runner.invoke(app, ["keywords", str(track), "--style", str(two)])
    assert r.exit_code == 2
    assert nonblank_lines(r.stderr) == [f"error: {two}: holds 2 styles (ink, wash) and no "
                                        f"default: say which one --style uses with default = "
                                        f"\"...\""]
    two.write_text('default = "wash"\n' + two.read_text(), encoding="utf-8")
    assert _keywords(track, "--style", str(two))["style"] == "wash"
    one.write_text(one.read_text().replace("order", "ordre"), encoding="utf-8")
    r = runner.invoke(app, ["keywords", str(track), "--style", str(one)])
    assert r.exit_code == 2 and f"error: {one}: style ink: unknown key 'ordre'" in r.stderr
    r = runner.invoke(app, ["keywords", str(track), "--style", "pastel"])
    assert r.exit_code == 2 and "unknown style 'pastel'; choose one of: abstract" in r.stderr


def test_fingerprint_holds_the_files_content(tmp_path: Path) -> None:
    """No user change: no fingerprint (older outputs stay valid); a rule file: its sha256."""
    assert UserRules().fingerprint() is None and UserRules().describe() is None
    f = tmp_path / "a.toml"
    f.write_text(_RULE, encoding="utf-8")
    a = UserRules(rules=load_rule_file(f))
    f.write_text(_RULE.replace("0.8", "0.7"), encoding="utf-8")
    b = UserRules(rules=load_rule_file(f))
    fa, fb = a.fingerprint(), b.fingerprint()
    assert fa is not None and fb is not None
    assert fa["rules"]["file"] == fb["rules"]["file"] == str(f)
    assert fa["rules"]["sha256"] != fb["rules"]["sha256"] and a != b
    same = parse_rule_file({"disable": ["tempo-fast"]}, UserFile("x.toml", "0" * 64))
    assert "tempo-fast" not in [r.id for r in same.rules.rules]
