"""The display groups of the audio taggers' tags in the HTML report, from
``keywords/tag_groups.toml``.

The table lists every tag of both musicnn taggers (:func:`midi2img.tag_rules.known_tags`) in
exactly one group, in display order; it is checked when it loads (schema
:data:`midi2img.tables.TAG_GROUPS`), so a tag a tagger gains, or one listed twice, fails there
with the file and the tag rather than landing in a group by chance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from midi2img import tables

#: The table in ``midi2img.keywords``.
TAG_GROUPS_FILE = "tag_groups.toml"


@dataclass(frozen=True)
class TagGroups:
    """The report's tag groups.

    Attributes:
        groups: The groups, in display order.
        default: The group of a tag neither tagger has.
        by_tag: Tag, lower-cased (the report merges the taggers' tags that way) -> its group.
    """

    groups: tuple[str, ...]
    default: str
    by_tag: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.default not in self.groups:
            raise ValueError(f"default group {self.default!r} is not one of the groups")
        unknown = sorted(set(self.by_tag.values()) - set(self.groups))
        if unknown:
            raise ValueError(f"tag group {unknown[0]!r} is not one of the groups")
        object.__setattr__(self, "by_tag", MappingProxyType(dict(self.by_tag)))

    def group_of(self, tag: str) -> str:
        """The display group of a tag (compared case-insensitively)."""
        return self.by_tag.get(tag.strip().lower(), self.default)


def parse_tag_groups(data: Mapping[str, Any], *,
                     tag_names: Mapping[str, Sequence[str]] | None = None,
                     source: str = tables.shipped_source(TAG_GROUPS_FILE)) -> TagGroups:
    """Validate a parsed tag-groups table.

    Args:
        data: The parsed ``tag_groups.toml``.
        tag_names: The tags of each tagger (default: :func:`midi2img.tag_rules.known_tags`).
        source: The file's name in messages.

    Raises:
        RulesError: one line naming the file and the tag: a tag that no tagger has, one in two
            groups or in none, a tag both taggers have in two groups, an unknown key.
    """
    if tag_names is None:
        from midi2img.tag_rules import known_tags

        tag_names = known_tags()
    vocab = {tables.TAG: [f"{t}:{tag}" for t, tags in tag_names.items() for tag in tags]}
    tables.validate(data, tables.TAG_GROUPS, source=source, vocab=vocab)
    by_tag = {tag.partition(":")[2].lower(): g["name"] for g in data["group"]
              for tag in g["tags"]}
    return TagGroups(tuple(g["name"] for g in data["group"]), data["default"], by_tag)


@lru_cache(maxsize=1)
def tag_groups() -> TagGroups:
    """The shipped tag groups (``keywords/tag_groups.toml``), loaded once."""
    return parse_tag_groups(tables.read_shipped(TAG_GROUPS_FILE))
