"""midi2img: turn music into images through symbolic analysis.

The library API mirrors the CLI: ``analyse_track`` runs the whole analysis and returns an
:class:`~midi2img.analysis.Analysis`; each stage is also importable on its own
(``midi2img.audio``, ``midi2img.transcribe``, ``midi2img.features``, ``midi2img.rules``,
``midi2img.prompt``). Heavy stacks (TensorFlow, onnxruntime, librosa, diffusers) are imported
lazily inside the functions that need them, so importing this package is cheap.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
