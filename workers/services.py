"""Build the backends a process needs from its configuration (and close them again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.config import Config
from pipeline.flow.context import Services
from pipeline.flow.recover import clean_tmp
from pipeline.storage import objects as objects_mod
from pipeline.storage.index import open_index
from pipeline.storage.ledger import open_ledger
from workers.executors import InlineExecutor, make_executor
from workers.signing import SigningProcess


@contextmanager
def services(
    cfg: Config, *, cancel_on_exit: bool = False, pages: bool = True, signing: bool = True
) -> Iterator[Services]:
    """Ledger, object store, executor, index and signer for one command or service run.

    The signer is the one place a process gets its agency key: with signing configured,
    a :class:`SigningProcess` whose child opens the key once, at once (so it overlaps
    the first pages' OCR), and keeps it for every document this process runs. It is
    started after the page pool, though it does not matter: the key lives in a spawned
    child that nothing forks. ``pages=False`` (a command that reads no pages, such as
    ``sohoa sign --pending``) runs no page pool; ``signing=False`` (one that archives
    nothing, such as ``ledger rebuild``) opens no key, so it never spends a PIN attempt.
    """
    objects = objects_mod.connect(cfg)
    ledger = open_ledger(cfg)
    index = open_index(cfg)
    executor = make_executor(cfg) if pages else InlineExecutor(cfg)
    signer = SigningProcess(cfg.sign).start() if signing and cfg.sign.enabled else None
    try:
        yield Services(cfg, ledger, objects, executor, index, signer)
    finally:
        if signer is not None:
            signer.close()
        executor.close(cancel=cancel_on_exit)
        clean_tmp(cfg)  # what workers ended mid-page (a stop) could not remove themselves
        index.close()
        ledger.close()


def ledger_lost_warning(svc: Services) -> str | None:
    """A ledger made just now beside an archive that holds documents: say so, loudly."""
    if not svc.ledger.created:
        return None
    if next(iter(svc.objects.list_keys(svc.objects.archive_bucket)), None) is None:
        return None
    return (
        f"warning: the ledger {svc.cfg.ledger_path} was missing and has been created empty,"
        " but the archive holds documents: run `sohoa ledger rebuild` to restore batches,"
        " states and numbering from MinIO"
    )
