"""Executors: who runs the pages (see :class:`pipeline.flow.executor.PageExecutor`)."""

from __future__ import annotations

from pipeline.config import Config
from pipeline.flow.executor import PageExecutor
from workers.executors.inline import InlineExecutor
from workers.executors.local import LocalExecutor, pool_size


def make_executor(cfg: Config) -> PageExecutor:
    """The executor ``run.executor`` (``SOHOA_EXECUTOR``) names."""
    if cfg.run.executor == "inline":
        return InlineExecutor(cfg)
    if cfg.run.executor == "celery":
        from workers.executors.celery import CeleryExecutor

        return CeleryExecutor(cfg)
    return LocalExecutor(cfg)


__all__ = ["InlineExecutor", "LocalExecutor", "make_executor", "pool_size"]
