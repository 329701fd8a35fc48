"""The inbox watcher: stable files in, batches out.

Filesystem events (watchdog) only wake the loop early; the truth comes from
polling, and a full rescan every ``watch.rescan_seconds`` catches events that
network filesystems never deliver. A file is taken only when nothing is writing
it: its size, mtime and inode have stayed the same for ``watch.stable_seconds``,
no process holds it open for writing (Linux, ``/proc``; on a file server this
sees the SMB daemon's handle of a copy still under way), and it is not empty. An
empty file is what a scanner leaves while it scans, so it waits, up to
``watch.empty_timeout_seconds``, before it is taken (and rejected, by name).

``inbox/<station>/file`` is a batch of one; everything under a folder
``inbox/<station>/<folder>/…`` is one batch once all of it is stable. A file takes
the dossier code of the nearest folder above it that holds one. Entries that are
not taken (symlinks, FIFOs, sockets, devices, hard links, hidden and temporary
names, other types) are logged once each with the reason; one bad entry never
stops the others. Identical files in one drop are taken in path order: the first is
processed and the others, held until it settles, become its duplicates.

A watcher on a scanner station holds the ``station`` key, which can put originals
into raw but never read them back, and nothing else: no database, no broker. It
runs custody only (``watch.process`` false, the default for that key): each file
goes into raw with its custody record (:func:`pipeline.flow.custody.hand_over`,
:mod:`pipeline.flow.intake`) and leaves the inbox once MinIO has confirmed both;
the intake of ``sohoa worker`` (or of a processing watcher) makes its ledger row.
A processing watcher (worker key) takes in custody records, takes over stalled
documents and takes up those an operator queued again in the web, at start and
every ``run.pickup_seconds``, and again after an outage: documents that went back
to ``stored_raw`` resume without a restart.

On SIGTERM the loop stops taking files at once, starts no new document, lets the
documents in flight settle and exits; what it had taken but not started stays in
custody (``stored_raw``) and the next run carries on with it.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import names
from pipeline.config import Config, watch_processes
from pipeline.dossier import codes as dossier
from pipeline.dossier.place import FOLDER, SUBMITTED, Place, folder_component
from pipeline.errors import StorageUnavailable, Unavailable
from pipeline.flow import custody, intake
from pipeline.flow.context import Services
from pipeline.flow.recover import pick_up, recover
from pipeline.storage import heartbeats
from pipeline.storage import objects as objects_mod
from pipeline.storage.ledger import Document, this_process
from pipeline.storage.ledger.records import lease, new_id
from pipeline.storage.ledger.states import DUPLICATE, UNFINISHED_STATES
from workers import openfiles
from workers.executors import InlineExecutor
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
# Say so when a file has been held open for writing this long (a stuck scanner application).
_BUSY_NOTICE_SECONDS = 60.0


def is_system_dir(name: str) -> bool:
    return name in _SYSTEM_DIRS or name.startswith((".Trash", ".Spotlight", ".fseventsd"))


def name_skip_reason(name: str, extensions: tuple[str, ...]) -> str | None:
    """Why a regular file is not taken by its name alone, or None if it may be."""
    if name.startswith("."):
        return "hidden name (starts with '.')"
    if name.startswith("~$") or name.lower().endswith(_TEMP_SUFFIXES):
        return "temporary name (an unfinished copy or an editor's lock file)"
    if Path(name).suffix.lower().lstrip(".") not in extensions:
        return f"not one of the accepted types ({', '.join(extensions)})"
    return None


def _type_skip_reason(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe): never read"
    if stat.S_ISSOCK(mode):
        return "socket: never read"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device node: never read"
    return "not a regular file"


def _links_reason(nlink: int) -> str:
    return (
        f"has {nlink} hard links: the same bytes have another name, perhaps outside the"
        " inbox, so they are not taken; copy the file in instead of linking it"
    )


@dataclass(frozen=True)
class Candidate:
    """A regular file the watcher may take, with the stat it was seen with."""

    path: Path
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @property
    def signature(self) -> tuple[int, int, int, int]:
        return (self.dev, self.ino, self.size, self.mtime_ns)


@dataclass
class Scan:
    files: list[Candidate]
    skipped: dict[Path, str]


def scan(inbox: Path, extensions: tuple[str, ...]) -> Scan:
    """Every file under the inbox that may be taken (sorted), and why each other entry is not.

    Nothing is followed: a symlink (to a file or a folder) is reported, never read.
    Hidden-looking folders are not skipped wholesale: a folder a clerk named
    ``..000.00.13.H38-…`` by mistake must still be taken (it just has no valid code).
    """
    files: list[Candidate] = []
    skipped: dict[Path, str] = {}
    if not inbox.is_dir():
        return Scan(files, skipped)
    stack = [inbox]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if folder != inbox:
                skipped[folder] = f"folder cannot be listed: {exc.strerror or exc}"
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    skipped[path] = "symbolic link: never followed"
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if is_system_dir(entry.name):
                        skipped[path] = "the file server's own folder"
                    else:
                        stack.append(path)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since it was listed
            reason = _type_skip_reason(st.st_mode) or name_skip_reason(entry.name, extensions)
            if reason is None and st.st_nlink > 1:
                reason = _links_reason(st.st_nlink)
            if reason:
                skipped[path] = reason
                continue
            files.append(Candidate(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    files.sort(key=lambda c: c.path)
    return Scan(files, skipped)


@dataclass(frozen=True)
class Location:
    """Where a file lies in the inbox, as display names: its station, its folder (a dossier
    code, or not) and the component code a folder right below the dossier folder gives."""

    station: str | None
    folder: str | None
    component: str | None = None

    @property
    def place(self) -> Place | None:
        """The document's place in its dossier (a submitted paper unless said otherwise)."""
        if self.component is None:
            return None
        return Place(self.component, SUBMITTED, None, FOLDER)


def locate(inbox: Path, path: Path) -> Location:
    """``inbox/<station>/[<folders>/]file`` → its :class:`Location`.

    The folder is the nearest one above the file whose name is a valid dossier
    code, so ``<station>/<code>/scans/2026/x.pdf`` belongs to ``<code>``; with
    none, the file's own folder (the document then waits for ``sohoa assign``).
    The folder right below the dossier folder names the document's component
    (``<station>/<code>/<component>/x.pdf``: MaThanhPhanHoSo) when its name can be
    one (:func:`~pipeline.dossier.place.folder_component`).
    """
    parts = path.relative_to(inbox).parts
    station = names.display(parts[0]) if len(parts) >= 2 else None
    folders = [names.display(p) for p in parts[1:-1]]
    for at in range(len(folders) - 1, -1, -1):
        if dossier.code_from_folder(folders[at]):
            below = folders[at + 1] if at + 1 < len(folders) else None
            return Location(station, folders[at], folder_component(below))
    return Location(station, folders[-1] if folders else None)


def group_key(inbox: Path, path: Path) -> Path:
    """Everything under a folder below a station is one batch; loose files are batches of one."""
    parts = path.relative_to(inbox).parts
    return inbox / parts[0] / parts[1] if len(parts) >= 3 else path


def prune_empty_folders(inbox: Path, taken: Iterable[Path]) -> None:
    """Remove the folders that taking these files left empty, up to (never including) the
    station folder. ``rmdir`` refuses a folder with anything in it, so nothing else goes."""
    for path in taken:
        parts = path.relative_to(inbox).parts
        if len(parts) < 3:
            continue
        station_dir = inbox / parts[0]
        folder = path.parent
        while folder != station_dir and station_dir in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


@dataclass
class _Seen:
    signature: tuple[int, int, int, int]
    since: float  # when it last changed or was last seen open for writing (monotonic)
    busy_since: float | None = None


@dataclass
class Tracker:
    """Remembers each file's last (dev, inode, size, mtime) and since when nothing touched it."""

    stable_seconds: float
    seen: dict[Path, _Seen] = field(default_factory=dict)

    def quiet_for(self, c: Candidate, now: float, writing: bool = False) -> float:
        """Record a fresh look; how long the file has been unchanged and not open for writing."""
        prev = self.seen.get(c.path)
        if prev is None or prev.signature != c.signature or writing:
            busy_since = None
            if writing:
                busy_since = prev.busy_since if prev and prev.busy_since is not None else now
            self.seen[c.path] = _Seen(c.signature, now, busy_since)
            return 0.0
        prev.busy_since = None
        return now - prev.since

    def busy_for(self, path: Path, now: float) -> float:
        seen = self.seen.get(path)
        return now - seen.busy_since if seen and seen.busy_since is not None else 0.0

    def keep_only(self, paths: set[Path]) -> None:
        for path in set(self.seen) - paths:
            del self.seen[path]

    def forget(self, path: Path) -> None:
        self.seen.pop(path, None)


@dataclass
class Watcher:
    """Takes settled files into custody and hands their documents to a ``DocumentRunner``."""

    services: Services
    runner: DocumentRunner  # or the Celery EnqueueRunner: the same interface
    report: Callable[[Document], None]
    log: Callable[[str], None]
    actor: str = "watcher"
    clock: Callable[[], float] = time.monotonic
    wake: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.cfg = self.services.cfg
        self.ledger = self.services.ledger
        self.tracker = Tracker(self.cfg.watch.stable_seconds)
        self.inflight: dict[str, Future[Document | None]] = {}
        self.stop = threading.Event()
        # SHA-256 → the document this watcher took for those bytes, until it settles.
        self.pending: dict[str, str] = {}
        # Files identical to a pending document: taken as its duplicates once it settles.
        self.held: dict[Path, str] = {}
        self._fingerprints: dict[Path, custody.Fingerprint] = {}
        self._open_batches: dict[Path, str] = {}
        self._notes: dict[Path, str] = {}
        self._told_hidden = False
        self._lock = threading.Lock()
        # False on a station: hand documents over (raw + custody records), no ledger.
        self.process = watch_processes(self.cfg)
        self.in_custody: list[Document] = []
        self.cursor = intake.cursor_for(self.services) if self.process else None
        self.station_actor = custody.station_actor()

    # -- telling the operator -------------------------------------------------------------
    def _shown(self, path: Path) -> str:
        return names.display(path.relative_to(self.cfg.inbox))

    def _notice(self, path: Path, message: str) -> None:
        """Log ``message`` about ``path`` once, not at every tick (again only if it changes)."""
        if self._notes.get(path) != message:
            self._notes[path] = message
            self.log(message)

    # -- ingest ---------------------------------------------------------------------------
    def ready_groups(self) -> tuple[list[list[Candidate]], int]:
        """Groups whose every file is settled, and how many files are still being written."""
        inbox, watch = self.cfg.inbox, self.cfg.watch
        found = scan(inbox, watch.extensions)
        for path, reason in found.skipped.items():
            self._notice(path, f"skipped {self._shown(path)}: {reason}")
        writers = openfiles.NONE
        if watch.check_open_writers and found.files:
            writers = openfiles.open_for_writing(inbox)
            if writers.hidden and not self._told_hidden:
                self._told_hidden = True
                self.log(
                    f"cannot see the open files of {writers.hidden} processes of other users;"
                    " a writer among them is caught only by watch.stable_seconds"
                )
        now, wall = self.clock(), time.time()
        groups: dict[Path, list[tuple[Candidate, bool]]] = {}
        waiting = 0
        for c in found.files:
            writing = (c.dev, c.ino) in writers
            quiet = self.tracker.quiet_for(c, now, writing)
            if writing and self.tracker.busy_for(c.path, now) >= _BUSY_NOTICE_SECONDS:
                shown = self._shown(c.path)
                self._notice(c.path, f"waiting for {shown}: a process holds it open for writing")
            if quiet < watch.stable_seconds:
                ready = False
            elif c.size == 0:
                empty_for = max(quiet, wall - c.mtime_ns / 1e9)
                if empty_for < watch.empty_timeout_seconds:
                    self._notice(
                        c.path,
                        f"waiting for {self._shown(c.path)}: empty (0 bytes); taken once it has"
                        f" bytes, rejected if still empty after {watch.empty_timeout_seconds:g} s",
                    )
                    continue  # neither ready nor holding up its group
                ready = True
            else:
                ready = True
            groups.setdefault(group_key(inbox, c.path), []).append((c, ready))
        present = {c.path for c in found.files}
        self.tracker.keep_only(present)
        for path in set(self._notes) - present - set(found.skipped):
            del self._notes[path]
        for path in set(self.held) - present:
            del self.held[path]
        for path in set(self._fingerprints) - present:
            del self._fingerprints[path]
        for key in set(self._open_batches) - {group_key(inbox, p) for p in self.held}:
            del self._open_batches[key]
        ready_groups: list[list[Candidate]] = []
        for _key, members in sorted(groups.items()):
            if all(ok for _, ok in members):
                ready_groups.append([c for c, _ in members])
            else:
                waiting += sum(1 for _, ok in members if not ok)
        return ready_groups, waiting

    def _fingerprint(self, c: Candidate) -> custody.Fingerprint:
        """Hash a file once per version (held duplicates are looked at every tick)."""
        known = self._fingerprints.get(c.path)
        if known is None or (known.dev, known.ino, known.size, known.mtime_ns) != c.signature:
            known = custody.fingerprint(c.path)
            self._fingerprints[c.path] = known
        return known

    @property
    def settled(self) -> list[Document]:
        return self.runner.settled

    def take(self, files: list[Candidate]) -> tuple[list[str], int]:
        """Put one settled group into custody as a batch, in path order, until told to stop.

        Returns the ids of the documents to process (duplicates are reported at once) and
        how many files left the inbox.
        """
        inbox = self.cfg.inbox
        station = locate(inbox, files[0].path).station
        origin = names.display(group_key(inbox, files[0].path).relative_to(inbox))
        key = group_key(inbox, files[0].path)
        # A group whose duplicates were held keeps its batch for them.
        batch: list[str] = [b for b in [self._open_batches.pop(key, None)] if b]

        def batch_id() -> str:
            if not batch:
                if self.process:
                    batch.append(self.ledger.create_batch(station, origin, self.actor))
                else:
                    batch.append(new_id("b"))  # a station chooses its ids itself
            return batch[0]

        ids: list[str] = []
        taken: list[Path] = []
        for c in files:
            if self.stop.is_set():
                break
            path, shown = c.path, self._shown(c.path)
            try:
                fp = self._fingerprint(c)
                if fp.nlink > 1:
                    self._notice(path, f"skipped {shown}: {_links_reason(fp.nlink)}")
                    continue
                if not self.process:  # a station: identical files are the intake's to sort out
                    doc = self._hand_over(path, fp, batch_id(), len(taken) + 1, station, origin)
                    taken.append(path)
                    self._taken(path, doc)
                    continue
                twin = self.pending.get(fp.sha256)
                if twin is not None and not self._resumes(twin, path):
                    self.held[path] = twin
                    continue
                where = locate(inbox, path)
                doc = custody.accept_file(
                    self.ledger,
                    self.services.objects,
                    self.cfg,
                    path,
                    batch_id=batch_id,
                    station=station,
                    folder_name=where.folder,
                    dossier_hint=None,
                    actor=self.actor,
                    known=fp,
                    twin=self.held.pop(path, None),
                    place=where.place,
                )
            except Unavailable:
                raise
            except custody.FileChanged as exc:
                self.tracker.forget(path)
                self._fingerprints.pop(path, None)
                self.log(f"{exc}; it is taken once it is stable again")
                continue
            except FileNotFoundError:
                continue  # removed by its owner since the scan
            except OSError as exc:
                self._notice(path, f"not taken for now: {shown}: {exc.strerror or exc}")
                continue
            except Exception as exc:  # one bad entry must never stop the others
                self._notice(path, f"not taken for now: {shown}: {type(exc).__name__}: {exc}")
                continue
            taken.append(path)
            self._taken(path, doc)
            if doc.state == DUPLICATE:
                self.log(f"document {doc.id} is a duplicate: {doc.reason}")
                self._settle(doc)
            else:
                self.pending[fp.sha256] = doc.id
                ids.append(doc.id)
        if batch and any(c.path in self.held for c in files):
            self._open_batches[key] = batch[0]
        prune_empty_folders(inbox, taken)
        return ids, len(taken)

    def _taken(self, path: Path, doc: Document) -> None:
        self.tracker.forget(path)
        self._fingerprints.pop(path, None)
        self._notes.pop(path, None)
        self.log(f"took {self._shown(path)} as document {doc.id} (batch {doc.batch_id})")

    def _hand_over(
        self,
        path: Path,
        fp: custody.Fingerprint,
        batch_id: str,
        seq: int,
        station: str | None,
        origin: str,
    ) -> Document:
        """A station's custody: original and custody record into raw, the file out of the
        inbox; the document (as the intake will record it) for the report."""
        where = locate(self.cfg.inbox, path)
        record, key = custody.hand_over(
            self.services.objects,
            path,
            batch_id=batch_id,
            doc_id=new_id("d"),
            seq=seq,
            station=station,
            origin=origin,
            folder_name=where.folder,
            actor=self.station_actor,
            known=fp,
            component_code=where.component,
            kind=SUBMITTED if where.component else None,
        )
        doc = intake.as_document(record, key)
        self.in_custody.append(doc)
        self.report(doc)
        return doc

    def _take_in(self) -> None:
        """Custody records of stations not in the ledger yet: recorded, claimed, run here."""
        assert self.cursor is not None
        held = lease(self.cfg.run.queue_lease_seconds)
        for doc in intake.take_in(
            self.services,
            self.cursor,
            actor=self.actor,
            owner=str(this_process()),
            lease_until=held,
            log=self.log,
        ):
            self.log(f"took in document {doc.id} from {doc.station or '?'} ({doc.source_name})")
            self.submit(doc.id, doc.sha256)

    def _pickup(self) -> None:
        """Stations' custody records; documents waiting in ``stored_raw`` with no live
        owner (queued again by an operator, put back by an outage, or claimed by this
        process and never started); stalled ones taken over. Each claimed first, so two
        processes never both start one."""
        if self.runner.outage is not None or self.runner.interrupted:
            return  # claimed now, they would wait for this process instead of the recovery
        heartbeats.alive(self.cfg, "watch")  # the web and operators see it looking for work
        self._take_in()
        me = str(this_process())
        for doc in pick_up(
            self.services, actor=self.actor, owner=me, mine=frozenset(self.inflight)
        ):
            if self.stop.is_set():
                break
            self.submit(doc.id, doc.sha256)

    def _resumes(self, doc_id: str, path: Path) -> bool:
        """Whether ``path`` is the very file of pending document ``doc_id`` (custody was cut
        short by a crash), which custody resumes, rather than a copy of it."""
        doc = self.ledger.get_document(doc_id)
        return doc.state in UNFINISHED_STATES and doc.source_path == names.display(path)

    # -- processing -----------------------------------------------------------------------
    def submit(self, doc_id: str, sha256: str) -> None:
        if doc_id in self.inflight:
            return
        self.pending.setdefault(sha256, doc_id)
        self.inflight[doc_id] = self.runner.submit(doc_id)

    def _settle(self, doc: Document) -> None:
        """A document settled at custody (a duplicate): counted and reported like the rest."""
        with self._lock:
            self.runner.settled.append(doc)
        self.report(doc)

    def reap(self) -> None:
        for doc_id, fut in list(self.inflight.items()):
            if not fut.done():
                continue
            del self.inflight[doc_id]
            for sha, owner in list(self.pending.items()):
                if owner == doc_id:
                    del self.pending[sha]
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is not None:
                self.log(f"document {doc_id}: unexpected error {exc!r}")

    def _recover(self) -> None:
        heartbeats.alive(self.cfg, "watch")
        for doc_id in recover(self.services, actor=self.actor):
            if self.stop.is_set():
                return
            self.submit(doc_id, self.ledger.get_document(doc_id).sha256)
        self._take_in()

    def _nap(self, seconds: float) -> None:
        """Sleep until woken by a filesystem event, told to stop, or ``seconds`` have passed."""
        deadline = self.clock() + seconds
        while not self.stop.is_set():
            left = deadline - self.clock()
            if left <= 0 or self.wake.wait(min(left, 0.2)):
                break
        self.wake.clear()

    def run(self, once: bool, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` is set; with ``once``, until nothing more can be taken and all
        that was taken is done.

        Raises StorageUnavailable (after in-flight work settles) when ``once`` and
        MinIO is unreachable; a long-running watcher instead waits and tries again.
        """
        self.stop = stop = stop or threading.Event()
        self.cfg.inbox.mkdir(parents=True, exist_ok=True)
        rescan = self.cfg.watch.rescan_seconds
        pickup = min(rescan, self.cfg.run.pickup_seconds)
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
        if self.ledger is not None and (warning := ledger_lost_warning(self.services)):
            self.log(warning)
        observer = _start_observer(self.cfg.inbox, self.wake)
        tick = max(0.2, min(1.0, self.cfg.watch.stable_seconds / 4 or 0.2))
        runner = self.runner
        picked_up = self.clock()
        try:
            if self.process:  # a station can neither read the archive nor run documents
                self._recover()
            while not stop.is_set():
                self.reap()
                if self.process and not once and self.clock() - picked_up >= pickup:
                    picked_up = self.clock()
                    try:
                        self._pickup()
                    except Unavailable as exc:
                        runner.outage = exc
                if runner.outage is not None:
                    if once:
                        break
                    self.log(f"{runner.outage}; retrying in {rescan:.0f} s")
                    if stop.wait(rescan):
                        break
                    runner.outage = None
                    try:  # what went back to stored_raw meanwhile resumes here and now
                        self._pickup()
                    except Unavailable as exc:
                        runner.outage = exc
                    continue
                ready, waiting = self.ready_groups()
                took = False
                try:
                    for files in ready:
                        if stop.is_set():
                            break
                        ids, count = self.take(files)
                        took = took or count > 0
                        for doc_id in ids:
                            if stop.is_set():
                                break  # in custody (stored_raw): the next run carries on
                            self.submit(doc_id, self.ledger.get_document(doc_id).sha256)
                except Unavailable as exc:
                    runner.outage = exc
                    continue
                waiting += len(self.held)
                if once and not took and not waiting and not self.inflight:
                    break
                idle = not (waiting or self.inflight or once or took)
                self._nap((pickup if self.process else rescan) if idle else tick)
        finally:
            if stop.is_set():
                self.log(
                    "stopping: pages in work finish or are kept; everything else stays in the"
                    " inbox or in custody for the next run"
                )
                runner.interrupted = True
                self.services.executor.close(cancel=True)
            for fut in list(self.inflight.values()):
                fut.exception()  # wait: each puts its document back or settles it
            self.reap()
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            heartbeats.leave()  # no longer taking queued documents
        if runner.outage is not None and once:
            raise runner.outage


@contextmanager
def station_services(cfg: Config) -> Iterator[Services]:
    """What a custody-only watcher uses: its MinIO key, and no ledger, index or broker."""
    yield Services(cfg, None, objects_mod.connect(cfg), InlineExecutor(cfg))  # type: ignore[arg-type]


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
