"""Page cleanup with OpenCV (see :mod:`pipeline.cleanup.page`); the stage's entry point."""

from pipeline.cleanup.page import CleanPage, cleanup_page

__all__ = ["CleanPage", "cleanup_page"]
