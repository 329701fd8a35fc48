"""Private files: what sohoa keeps under SOHOA_HOME is for the account that runs it alone.

The ledger and the index hold page text (names, ID numbers, addresses), password
hashes, web sessions and the audit log; the spool, work and cache folders hold
citizens' pages. Under Debian's default umask (022) all of it would be readable by
every local account. So each process entry point sets a umask of 077 before it
creates anything (:func:`restrict_umask`), the SQLite files are created 0600 whatever
the umask (:func:`private_file`: a library caller may not have set one; SQLite gives
its ``-wal`` and ``-shm`` files the database file's mode), a home left open by an
older release is tightened at start (:func:`enter_home`), and each process keeps
its temporary files, multiprocessing's ``pymp-*`` folders among them, in a folder of
its own under ``SOHOA_HOME/tmp`` that is removed when it exits, or by the next start
after a kill (``flow.recover.clean_tmp``: the folder is named after the pid).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Sequence
from multiprocessing import util as mp_util
from pathlib import Path

from pipeline.errors import ConfigError

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
OPEN_BITS = 0o077  # anything for group or others
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# multiprocessing's forkserver listens on a Unix socket in the temporary folder,
# <folder>/pymp-XXXXXXXX/listener-XXXXXXXX, and a socket's path must fit in 107 bytes.
_SOCKET_PATH_MAX = 107
_MP_SOCKET_SUFFIX = len("/pymp-xxxxxxxx/listener-xxxxxxxx")
# After multiprocessing's own clean-up of its pymp-* folder (exit priority -100).
_REMOVE_PRIORITY = -200
_FALLBACK = "sohoa-"  # a process's folder in the system's temp: sohoa-<pid>-XXXXXXXX


def restrict_umask() -> None:
    """Nothing this process (or a child it starts) creates from now on is open to others.

    A stricter umask already in force is kept.
    """
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)


def private_file(path: Path) -> Path:
    """An SQLite file only this account can read: created empty with mode 0600 when
    missing, its mode (and its journal files') narrowed when group or others had bits.

    The folder is created 0700 if missing; an existing one is left as it is (it may be
    a test's or an administrator's folder: the home itself is tightened by enter_home).
    """
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # Only a file that is not there yet is opened here: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, SQLite's own included.
    if not os.path.lexists(path):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    for each in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        _narrow(each)
    return path


def tighten(home: Path, leave: Sequence[Path] = (), *, deep: bool = True) -> list[Path]:
    """Files and folders under ``home`` (itself included) that group or others had bits
    on, made private; the owner's bits are kept. Symbolic links are not followed, other
    accounts' files are left alone, and so are the folders in ``leave`` (an inbox under
    the home belongs to the stations that write it). ``deep=False`` looks at the home's
    own entries only."""
    skip = {os.path.realpath(p) for p in leave}
    changed: list[Path] = []
    for root, dirs, files in os.walk(home):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) not in skip]
        for entry in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
            if _narrow(Path(entry)):
                changed.append(Path(entry))
        if not deep:
            break
    return changed


def _narrow(path: Path) -> bool:
    """Take group and others' bits off ``path`` if this account owns it; True if it did."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & OPEN_BITS:
            return False
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~OPEN_BITS)
    except OSError:  # gone meanwhile, or a file system without modes: nothing to narrow
        return False
    return True


def enter_home(home: Path, inbox: Path | None = None) -> list[Path]:
    """Make ``home`` private (0700, created if missing), tighten what an older release
    left open, and give this process its temporary folder there (:func:`use_private_tmp`).

    Returns what was tightened, for the caller's one line of log.
    """
    try:
        home.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # Others reach nothing inside a home that is 0700: the whole tree (20,000 files:
        # about 0.2 s) is walked only when the home itself was found open.
        deep = bool(home.stat().st_mode & OPEN_BITS)
        changed = tighten(home, leave=[inbox] if inbox is not None else [], deep=deep)
        use_private_tmp(home)
    except OSError as exc:
        raise ConfigError(f"cannot make SOHOA_HOME {home} private: {exc}") from None
    return changed


def use_private_tmp(home: Path) -> Path:
    """This process's temporary folder, ``SOHOA_HOME/tmp/<pid>-XXXXXXXX`` (0700).

    Python's tempfile, multiprocessing (whose ``pymp-*`` folders hold the forkserver's
    socket) and every program this process starts (TMPDIR: poppler, Tesseract) write
    there; it is removed at exit, after multiprocessing's own clean-up. A home so deep
    that the forkserver's socket path would not fit gets a private folder in the
    system's temporary folder instead, removed the same way (and those of killed
    processes by the next start, as in the home).
    """
    base = home / "tmp"
    base.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    prefix = f"{os.getpid()}-"
    if len(os.fsencode(base)) + 1 + len(prefix) + 8 + _MP_SOCKET_SUFFIX <= _SOCKET_PATH_MAX:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    else:
        system = Path(tempfile.gettempdir())
        remove_stale(system, _FALLBACK)
        folder = Path(tempfile.mkdtemp(prefix=f"{_FALLBACK}{prefix}", dir=system))
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    # multiprocessing's Finalize runs only in the process that made it, never in a child.
    mp_util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=_REMOVE_PRIORITY)
    return folder


def remove_stale(folder: Path, prefix: str) -> int:
    """Remove this account's ``<prefix><pid>-…`` folders in ``folder`` whose process is
    gone (killed before it could remove them); returns how many."""
    removed = 0
    ours = re.compile(rf"{re.escape(prefix)}(\d+)-[a-z0-9_]{{8}}")  # as mkdtemp names them
    for entry in folder.glob(f"{prefix}*-*"):
        match = ours.fullmatch(entry.name)
        try:
            if not match or entry.lstat().st_uid != os.geteuid() or _alive(int(match[1])):
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process
        return True
    return True
