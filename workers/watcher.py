"""The inbox watcher: stable files in, batches out.

Filesystem events (watchdog) only wake the loop early; the truth comes from
polling: a file is taken only once its size and mtime have stayed the same for
``watch.stable_seconds`` (a scanner writing over a slow SMB share must never be
read half-way), and a full rescan every ``watch.rescan_seconds`` catches events
that network filesystems never deliver. A file directly in ``<station>/`` is a
batch of one; a folder ``<station>/<name>/`` becomes one batch once every file
in it is stable.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import StorageUnavailable, Unavailable
from pipeline.flow import custody
from pipeline.flow.context import Services
from pipeline.flow.recover import recover
from pipeline.lang.textnorm import nfc
from pipeline.storage.ledger import Document
from workers.runner import DocumentRunner
from workers.services import ledger_lost_warning

_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".filepart", ".swp")
# Folders that file servers and sync tools create inside shares; never documents.
_SYSTEM_DIRS = (
    "@eaDir",
    "#recycle",
    "#snapshot",
    ".snapshot",
    ".stfolder",
    ".stversions",
    ".sync",
    ".git",
    "lost+found",
)


def is_system_dir(name: str) -> bool:
    return name in _SYSTEM_DIRS or name.startswith((".Trash", ".Spotlight", ".fseventsd"))


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


@dataclass
class Tracker:
    """Remembers each file's last (size, mtime) and since when it has not changed."""

    stable_seconds: float
    seen: dict[Path, _Seen] = field(default_factory=dict)

    def observe(self, path: Path, now: float) -> bool:
        """Record a fresh stat; True once the file has been unchanged long enough."""
        try:
            st = path.stat()
        except FileNotFoundError:
            self.seen.pop(path, None)
            return False
        prev = self.seen.get(path)
        if prev is None or (prev.size, prev.mtime_ns) != (st.st_size, st.st_mtime_ns):
            self.seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
            return False
        return now - prev.since >= self.stable_seconds

    def forget(self, path: Path) -> None:
        self.seen.pop(path, None)


def is_candidate(path: Path, extensions: tuple[str, ...]) -> bool:
    name = path.name
    if name.startswith((".", "~$")) or name.lower().endswith(_TEMP_SUFFIXES):
        return False
    return path.suffix.lower().lstrip(".") in extensions


def scan(inbox: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Every candidate file under the inbox, system folders skipped, sorted for stable numbering.

    Hidden-looking folders are not skipped wholesale: a folder a clerk named
    ``..000.00.13.H38-…`` by mistake must still be taken (it just has no valid code).
    """
    found: list[Path] = []
    if not inbox.exists():
        return found
    for root, dirs, files in os.walk(inbox):
        dirs[:] = [d for d in dirs if not is_system_dir(d)]
        for name in files:
            path = Path(root) / name
            if is_candidate(path, extensions) and path.is_file() and not path.is_symlink():
                found.append(path)
    return sorted(found)


def locate(inbox: Path, path: Path) -> tuple[str | None, str | None]:
    """``inbox/<station>/[<folder>/]file`` → (station, folder); deeper: the nearest folder."""
    parts = path.relative_to(inbox).parts
    station = nfc(parts[0]) if len(parts) >= 2 else None
    folder = nfc(parts[-2]) if len(parts) >= 3 else None
    return station, folder


def group_key(inbox: Path, path: Path) -> Path:
    """Files inside a folder under a station form one batch; loose files are batches of one."""
    parts = path.relative_to(inbox).parts
    return path.parent if len(parts) >= 3 else path


@dataclass
class Watcher:
    """Takes stable files into custody and hands the documents to a :class:`DocumentRunner`."""

    services: Services
    runner: DocumentRunner
    log: Callable[[str], None]
    actor: str = "watcher"
    clock: Callable[[], float] = time.monotonic
    wake: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.cfg = self.services.cfg
        self.tracker = Tracker(self.cfg.watch.stable_seconds)
        self.inflight: dict[str, Future[Document | None]] = {}

    @property
    def settled(self) -> list[Document]:
        return self.runner.settled

    # -- ingest ---------------------------------------------------------------------------
    def ready_groups(self) -> tuple[list[list[Path]], int]:
        """Groups whose every file is stable, and how many files are still settling."""
        inbox = self.cfg.inbox
        now = self.clock()
        groups: dict[Path, list[tuple[Path, bool]]] = {}
        for path in scan(inbox, self.cfg.watch.extensions):
            groups.setdefault(group_key(inbox, path), []).append(
                (path, self.tracker.observe(path, now))
            )
        ready = [[p for p, _ in files] for files in groups.values() if all(ok for _, ok in files)]
        waiting = sum(1 for files in groups.values() for _, ok in files if not ok)
        return ready, waiting

    def take(self, files: list[Path], stop: threading.Event) -> list[str]:
        """Put one stable group into custody as a batch; return the ids to process."""
        inbox = self.cfg.inbox
        station, folder = locate(inbox, files[0])
        origin = str(group_key(inbox, files[0]).relative_to(inbox))
        ledger = self.services.ledger
        batch_id = ledger.create_batch(station, origin, self.actor)
        ids: list[str] = []
        for path in files:
            if stop.is_set():
                break
            try:
                doc = custody.accept_file(
                    ledger,
                    self.services.objects,
                    self.cfg,
                    path,
                    batch_id=batch_id,
                    station=station,
                    folder_name=folder,
                    dossier_hint=None,
                    actor=self.actor,
                )
            except OSError as exc:
                self.log(f"skipped {path}: {exc}; will look again")
                continue
            self.tracker.forget(path)
            ids.append(doc.id)
            self.log(f"took {path.relative_to(inbox)} as document {doc.id} (batch {batch_id})")
        folder_dir = group_key(inbox, files[0])
        if folder_dir.is_dir() and folder_dir != inbox:
            with contextlib.suppress(OSError):
                folder_dir.rmdir()
        return ids

    # -- processing -----------------------------------------------------------------------
    def submit(self, doc_id: str) -> None:
        if doc_id not in self.inflight:
            self.inflight[doc_id] = self.runner.submit(doc_id)

    def reap(self) -> None:
        for doc_id, fut in list(self.inflight.items()):
            if fut.done():
                del self.inflight[doc_id]
                exc = fut.exception()
                if exc is not None:
                    self.log(f"document {doc_id}: unexpected error {exc!r}")

    def _recover(self) -> None:
        for doc_id in recover(self.services, actor=self.actor):
            self.submit(doc_id)

    def run(self, once: bool, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` is set; with ``once``, until the inbox is empty and all is done.

        Raises StorageUnavailable (after in-flight work settles) when ``once`` and
        MinIO is unreachable; a long-running watcher instead waits and tries again.
        """
        stop = stop or threading.Event()
        self.cfg.inbox.mkdir(parents=True, exist_ok=True)
        rescan = self.cfg.watch.rescan_seconds
        while True:
            try:
                self.services.objects.ensure_buckets()
                break
            except StorageUnavailable as exc:
                if once:
                    raise
                self.log(f"{exc}; retrying in {rescan:.0f} s")
                if stop.wait(rescan):
                    return
        if warning := ledger_lost_warning(self.services):
            self.log(warning)
        observer = _start_observer(self.cfg.inbox, self.wake)
        tick = max(0.2, min(1.0, self.cfg.watch.stable_seconds / 4 or 0.2))
        try:
            self._recover()
            while not stop.is_set():
                self.reap()
                if self.runner.outage is not None:
                    if once:
                        break
                    self.log(f"{self.runner.outage}; retrying in {rescan:.0f} s")
                    if stop.wait(rescan):
                        break
                    self.runner.outage = None
                    try:
                        self._recover()
                    except Unavailable as exc:
                        self.runner.outage = exc
                    continue
                ready, waiting = self.ready_groups()
                try:
                    for files in ready:
                        if stop.is_set():
                            break
                        for doc_id in self.take(files, stop):
                            self.submit(doc_id)
                except Unavailable as exc:
                    self.runner.outage = exc
                    continue
                if once and not ready and not waiting and not self.inflight:
                    break
                pause = tick if (waiting or self.inflight or once) else rescan
                self.wake.wait(pause)
                self.wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
        if stop.is_set():
            self.runner.interrupted = True
            self.services.executor.close(cancel=True)
        for fut in list(self.inflight.values()):
            fut.result()
        self.reap()
        if self.runner.outage is not None and once:
            raise self.runner.outage


def _start_observer(inbox: Path, wake: threading.Event):
    """Wake the loop on any inbox event; polling stays the source of truth."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: object) -> None:
            wake.set()

    observer = Observer()
    observer.schedule(_Wake(), str(inbox), recursive=True)
    observer.daemon = True
    observer.start()
    return observer
