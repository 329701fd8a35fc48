"""An upload's body: streamed into a private file under ``SOHOA_HOME``, never held in memory.

Limits known before custody are applied while the bytes arrive, so a refused upload
costs little: a declared ``Content-Length`` over ``api.max_upload_mb`` is refused (413)
before a byte is read, and so is a body that grows past it; the type is read from the
first kilobyte by the inbox's own :func:`pipeline.read.pages.sniff` (the bytes decide,
never the name or the header), and anything but the inbox's types (PDF, TIFF, JPEG, PNG,
as ``watch.extensions`` allows) is refused (415) with the inbox's reason. What only
reading the file can tell (pages, pixels, a broken PDF) is the worker's to find: the
document is then ``rejected`` with the same reason as from the inbox, its original kept.

The file lives in a folder of this process under ``SOHOA_HOME/tmp`` (``<pid>-api-…``,
0700; removed after the request, or by the next start after a kill), hashed as it is
written, so custody gets its SHA-256 without reading it again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from pipeline.config import Config
from pipeline.errors import RejectedInput
from pipeline.flow.custody import Fingerprint
from pipeline.private import DIR_MODE, FILE_MODE
from pipeline.read.pages import JPEG, PDF, PNG, TIFF, sniff
from workers.web.api.problems import Refusal

SNIFF_BYTES = 1024  # what sniff() reads
# The inbox's types, with the file extensions watch.extensions names them by.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: ("pdf",),
    TIFF: ("tif", "tiff"),
    JPEG: ("jpg", "jpeg"),
    PNG: ("png",),
}


def accepted_types(cfg: Config) -> dict[str, str]:
    """``{media type: extension}`` of the types the inbox takes (``watch.extensions``)."""
    allowed = set(cfg.watch.extensions)
    return {media: exts[0] for media, exts in EXTENSIONS.items() if allowed & set(exts)}


def upload_limit(cfg: Config) -> int:
    return int(cfg.api.max_upload_mb * 1024 * 1024)


@dataclass(frozen=True)
class Received:
    path: Path
    media_type: str
    fingerprint: Fingerprint

    @property
    def sha256(self) -> str:
        return self.fingerprint.sha256

    @property
    def size(self) -> int:
        return self.fingerprint.size


def private_folder(cfg: Config) -> Path:
    """A new folder of this process under ``SOHOA_HOME/tmp`` for one upload (0700)."""
    cfg.tmp_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-api-", dir=cfg.tmp_dir))


def _sniffed(path: Path, accepted: Mapping[str, str]) -> str:
    try:
        media = sniff(path)
    except RejectedInput as exc:
        raise Refusal(415, f"{exc}; send a PDF, TIFF, JPEG or PNG file") from None
    if media not in accepted:
        raise Refusal(
            415, f"{media} files are not taken here (watch.extensions); send {', '.join(accepted)}"
        )
    return media


def _too_large(limit: int) -> Refusal:
    return Refusal(413, f"the file is larger than {limit // (1024 * 1024)} MiB (api.max_upload_mb)")


async def receive(
    request: Request, folder: Path, *, limit: int, accepted: Mapping[str, str]
) -> Received:
    """The request's body into ``folder/body``; its type, SHA-256 and file identity."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    path = folder / "body"
    digest = hashlib.sha256()
    size = 0
    media: str | None = None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                out.write(chunk)
                digest.update(chunk)
                if media is None and size >= SNIFF_BYTES:
                    out.flush()
                    media = _sniffed(path, accepted)
        except ClientDisconnect:
            raise Refusal(400, "the request ended before its body did") from None
    if size == 0:
        raise Refusal(400, "empty file (0 bytes)")
    media = media or _sniffed(path, accepted)
    st = os.stat(path)
    fp = Fingerprint(digest.hexdigest(), size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_nlink)
    return Received(path, media, fp)
