"""The user's own rules: a rule file, a style file, words to add or leave out, a prompt template.

``--rules FILE.toml`` holds cue rules (``[[rule]]``, the schema of a ``[[rule]]`` of
``keywords/rules.toml``), tag rules (``[[tag_rule]]``, the schema of a ``[[rule]]`` of
``keywords/tags.toml``) and ``disable``, the shipped rules it switches off (a cue rule's id, a
tag rule's ``tag-<id>``). A rule whose id is a shipped rule's replaces it where it stands; a cue
rule with a new id is added after the shipped ones. A tag rule's thresholds are measured
(``make tune-tags``), never set by eye, so a ``[[tag_rule]]`` overrides a shipped tag rule only,
with tags measured for it (its keyword, kind, weight, group, source and which of its measured
tags it reads may change). The file is checked by the validator of the shipped tables
(:mod:`midi2img.tables`, schema :data:`~midi2img.tables.USER_RULES`): a problem is one line naming
the file, the rule and the field.

``--style FILE.toml`` adds the styles of a file with the schema of ``keywords/styles.toml`` and
selects its ``default`` (or its only style). ``--add-keyword`` and ``--exclude-keyword`` act on
the final keyword list; ``--prompt-template`` lays the prompt out (:func:`midi2img.prompt.
check_template`). Every change shows in the keywords' ``because`` and, through
:meth:`UserRules.fingerprint` (the files' sha256, not only their names), in the options hash that
``convert --resume`` compares.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midi2img.errors import InputError
from midi2img.flags import flag

if TYPE_CHECKING:
    from midi2img.keyword import Keyword
    from midi2img.prompt import Style
    from midi2img.rules import RuleBook
    from midi2img.tag_rules import TagRuleBook

#: The ``rule`` of a keyword that ``--add-keyword`` gives, its weight and its kind.
ADDED_RULE = "user-add"
ADDED_WEIGHT = 1.0
ADDED_KIND = "subject"


@dataclass(frozen=True)
class UserFile:
    """A file the user gave: its name as given and the sha256 of its bytes."""

    name: str
    sha256: str

    @property
    def short(self) -> str:
        """The file's name without its folder, as the keywords' evidence names it."""
        return Path(self.name).name

    def to_dict(self) -> dict[str, str]:
        """``{"file": name, "sha256": ...}``."""
        return {"file": self.name, "sha256": self.sha256}


def _read(path: str | Path) -> tuple[UserFile, dict[str, Any]]:
    """Read and parse a user's TOML file.

    Raises:
        InputError: the file cannot be read.
        RulesError: it is no valid TOML.
    """
    from midi2img import tables

    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    return UserFile(name, hashlib.sha256(data).hexdigest()), tables.read_toml(text, name)


@dataclass(frozen=True)
class RuleFile:
    """A user's rule file (``--rules``) applied to the shipped rules.

    Attributes:
        file: The file.
        added: Ids of the cue rules it adds.
        overridden: Ids of the shipped rules it replaces (tag rules as ``tag-<id>``).
        disabled: Ids of the shipped rules it switches off.
        rules: The shipped cue rules with the file's changes.
        tag_rules: The shipped tag rules with the file's changes.
    """

    file: UserFile
    added: tuple[str, ...]
    overridden: tuple[str, ...]
    disabled: tuple[str, ...]
    rules: RuleBook = field(compare=False, repr=False)
    tag_rules: TagRuleBook = field(compare=False, repr=False)


def parse_rule_file(data: dict[str, Any], file: UserFile) -> RuleFile:
    """Validate a parsed rule file and apply it to the shipped rules.

    Raises:
        RulesError: the first problem, in one line naming the file, the rule and the field: what
            the shipped tables' validator refuses, a ``disable`` naming no shipped rule or a rule
            the file also defines, a tag rule that is not a shipped one or reads a tag not
            measured for it.
    """
    from midi2img import tables
    from midi2img.rules import default_rules, rule_from, rule_vocab
    from midi2img.tag_rules import RULES_FILE, THRESHOLDS_FILE, parse_tag_rules, tag_vocab

    src = file.name
    tables.validate(data, tables.USER_RULES, source=src, vocab={**rule_vocab(), **tag_vocab()})
    book = default_rules()
    tag_data = tables.read_shipped(RULES_FILE)
    thresholds = tables.read_shipped(THRESHOLDS_FILE)
    cue_ids = [r.id for r in book.rules]
    tag_ids = [str(r["id"]) for r in tag_data["rule"]]
    mine = {str(r["id"]) for r in data.get("rule", [])}
    mine |= {f"tag-{r['id']}" for r in data.get("tag_rule", [])}
    disabled = tuple(str(d) for d in data.get("disable", []))
    shipped = {*cue_ids, *(f"tag-{t}" for t in tag_ids)}
    for rid in disabled:
        if rid not in shipped:
            tables.fail(src, f"disable {rid!r}", f"is no shipped rule (cue rules: "
                        f"{', '.join(cue_ids)}; tag rules: "
                        f"{', '.join('tag-' + t for t in tag_ids)})")
        if rid in mine:
            tables.fail(src, f"disable {rid!r}", "the file also defines this rule: define it or "
                        "switch it off, not both")
    for raw in data.get("tag_rule", []):
        rid = str(raw["id"])
        if rid not in tag_ids:
            tables.fail(src, f"tag_rule {rid}", f"is no shipped tag rule: a tag rule's "
                        f"thresholds are measured (make tune-tags), so a rule file may override "
                        f"a shipped one only (tag rules: {', '.join(tag_ids)})")
        measured = thresholds["rule"][rid]["threshold"]
        for key in ("when", "unless"):
            for name in raw.get(key, []):
                if name not in measured:
                    tables.fail(src, f"tag_rule {rid}",
                                f"{key} {name!r} has no threshold measured for this rule in "
                                f"{tables.shipped_source(THRESHOLDS_FILE)} (measured: "
                                f"{', '.join(measured)})")
    origin = file.short
    cues = {str(r["id"]): rule_from(r, origin=origin) for r in data.get("rule", [])}
    rules = tuple(cues.get(r.id, r) for r in book.rules if r.id not in disabled)
    rules += tuple(r for rid, r in cues.items() if rid not in cue_ids)
    tags_mine = {str(r["id"]): r for r in data.get("tag_rule", [])}
    kept = [tags_mine.get(str(r["id"]), r) for r in tag_data["rule"]
            if f"tag-{r['id']}" not in disabled]
    kept_ids = {str(r["id"]) for r in kept}
    measured_kept = {rid: m for rid, m in thresholds["rule"].items() if rid in kept_ids}
    tag_book = parse_tag_rules({"rule": kept}, {**thresholds, "rule": measured_kept})
    tag_book = dataclasses.replace(tag_book, rules=tuple(
        dataclasses.replace(r, origin=origin) if r.id in tags_mine else r
        for r in tag_book.rules))
    return RuleFile(
        file, added=tuple(rid for rid in cues if rid not in cue_ids),
        overridden=tuple([rid for rid in cues if rid in cue_ids]
                         + [f"tag-{rid}" for rid in tags_mine]),
        disabled=disabled, rules=dataclasses.replace(book, rules=rules), tag_rules=tag_book)


def load_rule_file(path: str | Path | None) -> RuleFile | None:
    """Read, validate and apply a user's rule file (None: none given).

    Raises:
        InputError: the file cannot be read, or (RulesError) it is malformed
            (:func:`parse_rule_file`).
    """
    if path is None:
        return None
    file, data = _read(path)
    return parse_rule_file(data, file)


@dataclass(frozen=True)
class StyleFile:
    """A user's style file (``--style FILE.toml``): its styles and the one it selects."""

    file: UserFile
    styles: tuple[Style, ...]
    default: str

    def style(self) -> Style:
        """The style it selects."""
        return next(s for s in self.styles if s.name == self.default)


def parse_style_file(data: dict[str, Any], file: UserFile) -> StyleFile:
    """Validate a parsed style file (schema :data:`midi2img.tables.STYLES`). Without
    ``default``, a file of one style selects it.

    Raises:
        RulesError: what the shipped styles' validator refuses, or several styles and no
            ``default``.
    """
    from midi2img import tables
    from midi2img.prompt import parse_styles

    styles = data.get("style")
    if "default" not in data and isinstance(styles, dict) and len(styles) > 1:
        tables.fail(file.name, "", f"holds {len(styles)} styles ({', '.join(styles)}) and no "
                    f"default: say which one --style uses with default = \"...\"")
    if "default" not in data and isinstance(styles, dict) and len(styles) == 1:
        data = {**data, "default": next(iter(styles))}
    default, parsed = parse_styles(data, source=file.name)
    return StyleFile(file, tuple(parsed.values()), default)


def is_style_file(value: str | None) -> bool:
    """Whether a ``--style`` value names a file of styles (it ends in ``.toml``) rather than
    a shipped style."""
    return value is not None and value.lower().endswith(".toml")


def _words(option: str) -> Any:
    def parse(values: Sequence[str] | None) -> tuple[str, ...]:
        out: list[str] = []
        for v in values or ():
            word = " ".join(v.split())
            if not word:
                raise InputError(f"{option}: an empty keyword")
            if word.lower() not in {w.lower() for w in out}:
                out.append(word)
        return tuple(out)

    return parse


@dataclass(frozen=True)
class UserRules:
    """The user's changes to the keywords and the prompt; each field but ``style_file`` is a
    command-line option (``style_file`` comes from ``--style FILE.toml``, :meth:`with_style`).

    Attributes:
        rules: The rule file (``--rules``), applied.
        add_keywords: Words added to the final keyword list (weight 1, kind ``subject``).
        exclude_keywords: Words taken out of the final keyword list (case-insensitive).
        prompt_template: The prompt's layout, with ``{keywords}`` and ``{style}``.
        style_file: The style file.
    """

    rules: RuleFile | None = flag(
        "--rules", default=None, cli_type=Path | None, parse=load_rule_file,
        help="A TOML file of your own keyword rules: [[rule]] adds a cue rule or replaces the "
        "shipped one of its id (schema of keywords/rules.toml), [[tag_rule]] replaces a shipped "
        "tag rule (keywords/tags.toml), disable = [ids] switches shipped rules off "
        "(docs/examples/my-rules.toml).")
    add_keywords: tuple[str, ...] = flag(
        "--add-keyword", default=(), cli_type=list[str] | None, cli_default=None,
        parse=_words("--add-keyword"), show_default=False, metavar="<word>",
        help="Add this word to the keywords (weight 1, placed as a subject); repeatable.")
    exclude_keywords: tuple[str, ...] = flag(
        "--exclude-keyword", default=(), cli_type=list[str] | None, cli_default=None,
        parse=_words("--exclude-keyword"), show_default=False, metavar="<word>",
        help="Leave this word out of the keywords (case-insensitive, the whole keyword); "
        "repeatable.")
    prompt_template: str | None = flag(
        "--prompt-template", default=None,
        help="The prompt's layout: {keywords} (the keywords, comma-separated, in the style's "
        "order) and {style} (the style's lead and tail words), e.g. '{keywords}, {style}'; "
        "keywords are dropped lightest first to fit CLIP's 77 tokens.")
    style_file: StyleFile | None = None

    def __post_init__(self) -> None:
        both = {w.lower() for w in self.add_keywords} & {w.lower() for w in self.exclude_keywords}
        if both:
            raise InputError(f"--add-keyword and --exclude-keyword both name {sorted(both)[0]!r}")
        if self.prompt_template is not None:
            from midi2img.prompt import check_template

            check_template(self.prompt_template)

    @property
    def empty(self) -> bool:
        """Whether the user changes nothing."""
        return self == UserRules()

    def with_style(self, value: str | None) -> tuple[UserRules, str | None]:
        """Take a ``--style`` value: a file of styles (:func:`is_style_file`) is read into
        ``style_file`` (and the style name is None: the file's own); a name is kept.

        Raises:
            InputError: the file cannot be read, or (RulesError) it is malformed.
        """
        if not is_style_file(value):
            return self, value
        assert value is not None
        file, data = _read(value)
        return dataclasses.replace(self, style_file=parse_style_file(data, file)), None

    def style(self, name: str | None) -> Style:
        """The prompt style: the style file's (its selection, or the style of that name in it),
        else the shipped style ``name`` (None: the default).

        Raises:
            InputError: no such style.
        """
        from midi2img.prompt import get_style

        if self.style_file is not None:
            own = {s.name: s for s in self.style_file.styles}
            return own[name] if name in own else self.style_file.style()
        return get_style(name)

    @property
    def rule_book(self) -> RuleBook | None:
        """The cue rules with the rule file's changes (None: the shipped ones)."""
        return None if self.rules is None else self.rules.rules

    @property
    def tag_book(self) -> TagRuleBook | None:
        """The tag rules with the rule file's changes (None: the shipped ones)."""
        return None if self.rules is None else self.rules.tag_rules

    def adjust(self, keywords: Sequence[Keyword]) -> list[Keyword]:
        """The final keyword list: ``exclude_keywords`` taken out, ``add_keywords`` added
        (merged with a keyword of the same or nearly the same words), heaviest first."""
        from midi2img.keyword import Keyword
        from midi2img.rules import merge_keywords

        if not self.add_keywords and not self.exclude_keywords:
            return list(keywords)
        out = [k for k in keywords
               if k.keyword.lower() not in {w.lower() for w in self.exclude_keywords}]
        out += [Keyword(w, ADDED_WEIGHT, "--add-keyword (the user's own word)", ADDED_KIND,
                        ADDED_RULE) for w in self.add_keywords]
        return merge_keywords(out)

    def fingerprint(self) -> dict[str, Any] | None:
        """What the options hash records of the user's changes: each file's name and sha256
        (so a changed file redoes a track under ``--resume``), the words and the template;
        None when nothing is changed (an older output's hash stays valid)."""
        if self.empty:
            return None
        return {"rules": None if self.rules is None else self.rules.file.to_dict(),
                "style": None if self.style_file is None else self.style_file.file.to_dict(),
                "add_keywords": list(self.add_keywords),
                "exclude_keywords": list(self.exclude_keywords),
                "prompt_template": self.prompt_template}

    def describe(self) -> str | None:
        """The user's changes in one line, for the output's provenance (None: none)."""
        if self.empty:
            return None
        parts = []
        if self.rules is not None:
            r = self.rules
            what = [f"{label} {', '.join(ids)}" for label, ids in (
                ("adds", r.added), ("overrides", r.overridden), ("disables", r.disabled)) if ids]
            parts.append(f"--rules {r.file.name} (sha256 {r.file.sha256[:16]}: "
                         f"{'; '.join(what)})")
        if self.style_file is not None:
            parts.append(f"--style {self.style_file.file.name} (sha256 "
                         f"{self.style_file.file.sha256[:16]}: style {self.style_file.default})")
        parts += [f"--add-keyword {w!r}" for w in self.add_keywords]
        parts += [f"--exclude-keyword {w!r}" for w in self.exclude_keywords]
        if self.prompt_template is not None:
            parts.append(f"--prompt-template {self.prompt_template!r}")
        return "; ".join(parts)
