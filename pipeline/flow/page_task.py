"""A page job run by a worker: find the source, run the page, store the result.

This is all a worker process needs, whatever executor sent the job: its own
configuration (from its environment: its own role keys, its own ``SOHOA_HOME``)
and the job itself. The source is the spool copy when the job runs on the
machine that took custody, else a verified download of the raw original, cached
by content hash so the pages of one document download it once per machine.

A job comes off the broker, so nothing in it is trusted as a path: its names are
checked (:func:`pipeline.model.checked_job`), the spool copy is looked up only
inside ``spool_dir`` by document id, and whatever file is found, spool copy or
cached download, is used only once its SHA-256 matches the job's. Hashing is done
once per process and file version (device, inode, size, modification time).

The source cache is shared by every process of the machine. A process using a
cached file holds a shared ``flock`` on it; pruning takes an exclusive lock
without waiting and removes only what nobody holds, so a running page never sees
its source vanish.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Config, load_config
from pipeline.errors import StorageIntegrityError
from pipeline.flow.page import process_page
from pipeline.model import PageJob, PageResult, SourceRef, checked_job, is_id
from pipeline.storage import objects as objects_mod
from pipeline.storage.objects import CHUNK, ObjectStore
from pipeline.storage.work import LOCAL, LocalWork, ObjectWork, WorkStore

SOURCE_CACHE_FILES = 16  # originals kept per machine; older ones nobody holds are removed
HELD_FOR_RUNS = 8  # sources a process keeps holding for document runs (resolve_source)
_VERIFIED_MAX = 1024
_ATTEMPTS = 3

FileVersion = tuple[int, int, int, int]  # (device, inode, size, mtime in ns)
_verified: dict[FileVersion, str] = {}  # this process's hashes of the files it used
_held: OrderedDict[str, int] = OrderedDict()  # path -> descriptor holding it (document runs)
_lock = threading.Lock()


@dataclass
class PageRuntime:
    """What a page worker keeps for its whole life; built once per process."""

    cfg: Config
    _objects: ObjectStore | None = field(default=None, repr=False)

    def objects(self) -> ObjectStore:
        if self._objects is None:
            self._objects = objects_mod.connect(self.cfg)
        return self._objects

    def work(self, kind: str) -> WorkStore:
        return LocalWork(self.cfg.work_dir) if kind == LOCAL else ObjectWork(self.objects())


def warm_up(cfg: Config) -> None:
    """Load, in a worker's set-up, what every page needs: the language model, the syllable
    index and the OCR engine; a worker that does not pays for them on its first page."""
    from pipeline import ocr
    from pipeline.lang import correct, syllables

    correct.default_model()
    syllables.skeleton_index()
    ocr.warm_up(cfg.ocr)


# ------------------------------------------------------------------- verified files


def _version(st: os.stat_result) -> FileVersion:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def _digest(fd: int, st: os.stat_result) -> str:
    """The SHA-256 of the open file, hashed once per process for each file version."""
    version = _version(st)
    with _lock:
        known = _verified.get(version)
    if known is not None:
        return known
    digest = _hash_fd(fd)
    with _lock:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[version] = digest
    return digest


def _hold(path: Path, ref: SourceRef) -> int | None:
    """A descriptor on ``path`` under a shared lock, if it holds exactly ``ref``'s bytes.

    After the lock is taken the name must still lead to the locked file: a prune that
    won the race removed it (or a download replaced it), and the caller looks again.
    Symbolic links are not followed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        st = os.fstat(fd)
        now = os.stat(path, follow_symlinks=False)
        same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
        whole = same and stat.S_ISREG(st.st_mode) and st.st_size == ref.size
        if whole and _digest(fd, st) == ref.sha256:
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _spool_copy(ref: SourceRef, cfg: Config) -> Path | None:
    """The spool copy's path: a document id, inside ``spool_dir``, or nothing."""
    if not ref.spool_id or not is_id(ref.spool_id):
        return None
    return cfg.spool_dir / ref.spool_id


def _acquire(ref: SourceRef, rt: PageRuntime) -> tuple[Path, int]:
    """A local file with the source's exact bytes, and a descriptor holding it."""
    spooled = _spool_copy(ref, rt.cfg)
    if spooled is not None:
        fd = _hold(spooled, ref)
        if fd is not None:
            return spooled, fd
    if not (len(ref.sha256) == 64 and all(c in "0123456789abcdef" for c in ref.sha256)):
        raise StorageIntegrityError("source: not a SHA-256")
    cache = rt.cfg.home / "cache" / "sources"
    cached = cache / ref.sha256
    for _ in range(_ATTEMPTS):
        fd = _hold(cached, ref)
        if fd is not None:
            _prune(cache)
            return cached, fd
        _download(ref, rt, cache, cached)
    raise StorageIntegrityError(f"source {ref.raw_key}: the cached copy keeps disappearing")


def _download(ref: SourceRef, rt: PageRuntime, cache: Path, cached: Path) -> None:
    """The raw original into the cache, under its hash, only if it hashes to it."""
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{ref.sha256}.{os.getpid()}.{threading.get_ident()}.part"
    objects = rt.objects()
    try:
        objects.download(objects.raw_bucket, ref.raw_key, part, version_id=ref.raw_version)
        fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
        try:
            matches = _digest(fd, os.fstat(fd)) == ref.sha256
        finally:
            os.close(fd)
        if not matches:
            raise StorageIntegrityError(f"raw copy {ref.raw_key} does not match its SHA-256")
        os.replace(part, cached)
    finally:
        part.unlink(missing_ok=True)


@contextmanager
def source_file(ref: SourceRef, rt: PageRuntime) -> Iterator[Path]:
    """The verified source, held (never pruned) until the ``with`` block ends."""
    path, fd = _acquire(ref, rt)
    try:
        yield path
    finally:
        os.close(fd)


def resolve_source(ref: SourceRef, rt: PageRuntime) -> Path:
    """A local file holding the source's exact bytes (a document run's ``fetch``).

    The run reads it right after (``inspect``); the process keeps holding the last
    :data:`HELD_FOR_RUNS` sources it resolved so pruning leaves them alone meanwhile.
    """
    path, fd = _acquire(ref, rt)
    key = f"{path}:{os.fstat(fd).st_ino}"
    with _lock:
        old = _held.pop(key, None)
        _held[key] = fd
        released = [old] if old is not None else []
        while len(_held) > HELD_FOR_RUNS:
            released.append(_held.popitem(last=False)[1])
    for stale in released:
        os.close(stale)
    return path


def _prune(cache: Path) -> None:
    """Remove the oldest cached originals beyond :data:`SOURCE_CACHE_FILES` that no
    process holds; files that vanish meanwhile (another process pruned) are skipped."""
    entries: list[tuple[int, Path]] = []
    try:
        names = list(cache.iterdir())
    except OSError:
        return
    for path in names:
        if path.name.endswith(".part"):
            continue
        try:
            st = path.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            entries.append((st.st_mtime_ns, path))
    entries.sort()
    for _, old in entries[:-SOURCE_CACHE_FILES]:
        _remove_unheld(old)


def _remove_unheld(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st, now = os.fstat(fd), os.stat(path, follow_symlinks=False)
        if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            path.unlink()
    except OSError:  # held by someone (EWOULDBLOCK), or gone meanwhile
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------ the job


def run_page_job(job: PageJob, rt: PageRuntime) -> PageResult:
    """Run one page and store its PDF and result in the job's work store."""
    checked_job(job)
    rt.cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
    with source_file(job.source, rt) as source:
        tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-page-", dir=rt.cfg.tmp_dir))
        try:
            out = tmp / "page.pdf"
            result = dataclasses.replace(
                process_page(job, source, out), worker=socket.gethostname()
            )
            return rt.work(job.work).put_page(job.work_key, result, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def run_json(job_json: str, cfg: Config | None = None) -> str:
    """Run a job given as JSON with this process's own configuration; the result as JSON.

    What a worker on another machine does with a task message: nothing but the
    job travels, the keys and folders are the worker's own.
    """
    import json

    result = run_page_job(PageJob.from_json(job_json), PageRuntime(cfg or load_config()))
    return json.dumps(result.to_dict(), ensure_ascii=False)
