"""``python -m midi2img.cli``."""

from midi2img.cli import main

main()
