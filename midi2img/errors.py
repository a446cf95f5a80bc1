"""Error hierarchy. The CLI turns every :class:`Midi2ImgError` into one line on stderr."""


class Midi2ImgError(Exception):
    """Base class of every error that midi2img reports to a user."""

    exit_code = 1


class InputError(Midi2ImgError):
    """The user's input (a file, an option value) cannot be used."""

    exit_code = 2


class ModelError(Midi2ImgError):
    """A model (shipped weights, a diffusion pipeline) is missing or cannot be loaded."""

    exit_code = 3


class OutputError(Midi2ImgError):
    """An output cannot be written (exists without --force, no permission, ...)."""

    exit_code = 4


class DataError(Midi2ImgError):
    """A dataset (GTZAN, EMOPIA, VGMIDI) is missing, malformed or inconsistent."""

    exit_code = 2


class RulesError(InputError):
    """A rule table (``keywords/*.toml``, or a user's rule file) is malformed: an unknown key,
    a feature, tag or kind that does not exist, a value of the wrong type or out of range."""
