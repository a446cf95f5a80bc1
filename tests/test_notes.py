"""The notes record (:mod:`midi2img.notes`): a note that ends before it starts, or a pitch
outside MIDI's range, is refused when the record is built."""

from __future__ import annotations

import numpy as np
import pytest

from midi2img.notes import Notes


def test_notes_record_validates() -> None:
    with pytest.raises(ValueError):
        Notes.from_arrays(np.array([1.0]), np.array([0.5]), np.array([60]), np.array([80]))
    with pytest.raises(ValueError):
        Notes.from_arrays(np.array([0.0]), np.array([0.5]), np.array([130]), np.array([80]))
