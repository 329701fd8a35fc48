"""The web's cache of archived PDFs and rendered page images: private, bounded, pruned safely.

The files are copies of citizens' documents, so they are kept like the documents: the
folder ``$SOHOA_HOME/cache/web`` is 0700 and every file 0600 whatever the umask (a file
is made private before it takes its final name), older ones included. The cache has a
size limit (``web.cache_max_mb``) and an age limit (``web.cache_max_age_hours``,
counted from when a copy was made, so a copy of a document re-signed since is
refreshed too). Pruning, at start and at most once a minute while pages are served,
deletes expired files, then the oldest until the rest fit; it never deletes a file
that a request of this process is using (:meth:`WebCache.using`), and a request that
finds its file gone (another process pruned it) makes it again.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config

PRUNE_EVERY = 60.0  # seconds between two prunes while pages are served
PART_GRACE = 600.0  # an unfinished download or render older than this is abandoned


@dataclass(frozen=True)
class PruneReport:
    removed: int
    kept: int
    kept_bytes: int


class WebCache:
    """One folder of private cache files with limits; thread-safe within a process."""

    def __init__(
        self,
        folder: Path,
        max_bytes: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._in_use: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_prune = float("-inf")

    @classmethod
    def from_config(cls, cfg: Config) -> WebCache:
        return cls(
            cfg.home / "cache" / "web",
            int(cfg.web.cache_max_mb * 1024 * 1024),
            cfg.web.cache_max_age_hours * 3600,
        )

    def ensure(self) -> Path:
        """The folder, made (or made again) private."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.folder.stat().st_mode) != 0o700:
            self.folder.chmod(0o700)
        return self.folder

    @staticmethod
    def seal(path: Path | str) -> None:
        """Make a finished file private before it takes its place in the cache."""
        os.chmod(path, 0o600)

    @contextmanager
    def using(self, *paths: Path) -> Iterator[None]:
        """Keep ``paths`` from being pruned by this process while a request needs them."""
        names = [p.name for p in paths]
        with self._lock:
            self._in_use.update(names)
        try:
            yield
        finally:
            with self._lock:
                self._in_use.subtract(names)
                for name in names:
                    if self._in_use[name] <= 0:
                        del self._in_use[name]

    def maybe_prune(self) -> None:
        """Prune if the last prune is a minute old (called as pages are served)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_prune < PRUNE_EVERY:
                return
            self._last_prune = now
        self.prune()

    def prune(self) -> PruneReport:
        """Delete expired files, then the oldest until the rest fit in the size limit."""
        if not self.folder.is_dir():
            return PruneReport(0, 0, 0)
        self.ensure()
        now = self.clock()
        with self._lock:
            busy = set(self._in_use)
        entries: list[tuple[float, int, Path]] = []
        expired = 0
        for entry in os.scandir(self.folder):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            path = Path(entry.path)
            if not stat.S_ISREG(info.st_mode):
                continue
            if entry.name in busy:
                entries.append((float("inf"), info.st_size, path))  # kept, but it counts
                continue
            age = now - info.st_mtime
            unfinished = ".part" in entry.name or ".tmp" in entry.name
            if age > self.max_age_seconds or (unfinished and age > PART_GRACE):
                expired += _remove(path)
                continue
            if unfinished:
                continue  # being written by a request right now
            if info.st_mode & 0o077:  # a copy made before the cache was private
                path.chmod(0o600)
            entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        evicted = 0
        for mtime, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes or mtime == float("inf"):
                break
            evicted += _remove(path)
            total -= size
        return PruneReport(expired + evicted, len(entries) - evicted, total)


def _remove(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
