"""Records that serialise themselves into the analysis contract (as mirdata's annotations do).

A record's fields are declared with :func:`feature`, whose metadata says where the value goes in
the contract (a top-level key, or a group such as ``notes``/``harmony``), under which name, how it
is rounded and which range it must lie in. :class:`ContractRecord` derives from that metadata
:meth:`~ContractRecord.to_contract` (its contract keys), :meth:`~ContractRecord.flat` (the
values the keyword rules may test, by field name) and :meth:`~ContractRecord.flat_names`. A field
without the metadata (an internal value) is in neither.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

#: Annotations of the fields the keyword rules may test (scalars).
_SCALAR_TYPES = ("float", "int", "str")


def feature(group: str = "", *, name: str | None = None, digits: int | None = 4,
            unit_interval: bool = False) -> Any:
    """A contract field of a :class:`ContractRecord`.

    Args:
        group: Contract group the value goes into (``""``: a top-level key).
        name: Its name in the contract (default: the field name).
        digits: Decimal places floats are rounded to in the contract.
        unit_interval: The value must lie in [0, 1].
    """
    return field(metadata={"group": group, "name": name, "digits": digits,
                           "unit_interval": unit_interval})


def _declared(cls: type) -> list[Any]:
    return [f for f in fields(cls) if "group" in f.metadata]


class ContractRecord:
    """Mixin for frozen dataclasses whose fields are declared with :func:`feature`."""

    def check_ranges(self) -> None:
        """Raise ValueError when a unit-interval field lies outside [0, 1]."""
        for f in _declared(type(self)):
            v = getattr(self, f.name)
            if f.metadata["unit_interval"] and v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{f.name} must lie in [0, 1], got {v}")

    @classmethod
    def flat_names(cls) -> frozenset[str]:
        """Every name :meth:`flat` provides (the scalar fields): what a keyword rule may test."""
        return frozenset(f.name for f in _declared(cls)
                         if str(f.type).removesuffix(" | None") in _SCALAR_TYPES)

    def flat(self) -> dict[str, Any]:
        """The scalar fields by name, unrounded: what the keyword rules read."""
        return {name: getattr(self, name) for name in sorted(self.flat_names())}

    def to_contract(self) -> dict[str, Any]:
        """The record's contract keys, grouped and rounded as the field metadata says."""
        out: dict[str, Any] = {}
        for f in _declared(type(self)):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
            elif isinstance(value, float) and f.metadata["digits"] is not None:
                value = round(value, f.metadata["digits"])
            target = out.setdefault(f.metadata["group"], {}) if f.metadata["group"] else out
            target[f.metadata["name"] or f.name] = value
        return out
