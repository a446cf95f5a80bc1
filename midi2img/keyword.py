"""The keyword record: words for the prompt with the evidence that chose them.

A leaf module (it imports nothing of the package), so that every module producing or reading
keywords - the cue rules, the tag rules, the mood story, the templater - can import it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Where the templater places a keyword (``keywords/styles.toml`` orders them per style).
KINDS = ("mood", "scene", "color", "light", "texture", "motion", "genre",
         # what the audio taggers hear (midi2img.tag_rules): instruments and voice, and the era
         "subject", "era")


@dataclass(frozen=True)
class Keyword:
    """A keyword for the prompt and why it was chosen.

    Attributes:
        keyword: The words that go into the prompt.
        weight: Strength in (0, 1]; the prompt keeps the heaviest first.
        because: The evidence: feature, value and rule (with its source).
        kind: Where the templater places it (see :data:`KINDS`).
        rule: Id of the rule that produced it (the strongest one when several agree).
    """

    keyword: str
    weight: float
    because: str
    kind: str
    rule: str

    def __post_init__(self) -> None:
        if not self.keyword.strip():
            raise ValueError("empty keyword")
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"keyword weight must lie in (0, 1], got {self.weight}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown keyword kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The contract's keyword object."""
        return {"keyword": self.keyword, "weight": round(self.weight, 4), "because": self.because,
                "kind": self.kind, "rule": self.rule}


def rule_label(rule: str, origin: str | None) -> str:
    """How evidence names a rule: ``rule tempo-fast``, or ``user rule r3 in my-rules.toml``
    for a rule of the user's rule file ``origin`` (``--rules``)."""
    return f"rule {rule}" if origin is None else f"user rule {rule} in {origin}"
