"""The ``sohoa`` command line."""

from workers.cli.main import main

__all__ = ["main"]
