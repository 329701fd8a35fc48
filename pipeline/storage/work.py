"""The work store: finished pages of documents in flight, so a crash or a stop loses no page.

A page task writes its one-page PDF and its result (as JSON, written last: the
page's commit marker) under ``<document id>/<digest>/`` where the digest covers
the source hash and every option that shapes a page, so a retry with other
settings never reuses a stale page. The document run lists what is there and
dispatches only the rest; after archiving, the document's folder is removed.

Two implementations: a folder under ``SOHOA_HOME`` for a single machine (the
local pool's workers share it with their parent), and the ``work`` bucket for
workers on other machines. Neither is ever shown to records staff.

Keys arrive in page jobs, which come off the broker: both stores refuse a key that
is not a work key sohoa makes (:func:`pipeline.model.is_work_key`: no ``..``, no
leading ``/``), so no job can write or read outside its folder or bucket prefix.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import TaskRefused
from pipeline.model import PageResult, is_id, is_page_pdf_key, is_work_key
from pipeline.storage.objects import ObjectStore

LOCAL = "local"
OBJECTS = "objects"
_OPEN = "open"  # marker object: a document whose pages are wanted


def work_key(document_id: str, source_sha256: str, options_digest: str) -> str:
    return f"{document_id}/{source_sha256[:16]}-{options_digest}"


def _page_name(index: int) -> str:
    return f"page-{index + 1:05d}"


def _checked(key: str, ok: bool, what: str) -> str:
    if not ok:
        raise TaskRefused(f"work store: refused a {what} that is not one sohoa makes")
    return key


def safe_key(key: str) -> str:
    """``key`` if it is a work key (a folder inside the store), else :class:`TaskRefused`."""
    return _checked(key, is_work_key(key), "work key")


class WorkStore(Protocol):
    kind: str

    def open(self, key: str) -> None: ...
    def is_open(self, key: str) -> bool: ...
    def put_page(self, key: str, result: PageResult, pdf: Path) -> PageResult: ...
    def fetch_pdf(self, pdf_key: str, dest: Path) -> Path: ...
    def done_pages(self, key: str) -> dict[int, PageResult]: ...
    def done_page(self, key: str, index: int) -> PageResult | None: ...
    def clear(self, document_id: str) -> None: ...
    def documents(self) -> list[str]: ...


class LocalWork:
    """Pages under ``<root>/<document>/<digest>/`` on this machine."""

    kind = LOCAL

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self, key: str) -> Path:
        """The folder of a work key, which can only be inside the root (checked twice: the
        key's characters, and where the joined path resolves to)."""
        folder = self.root / safe_key(key)
        root = self.root.resolve()
        if not folder.resolve().is_relative_to(root) or folder.resolve() == root:
            raise TaskRefused("work store: a key resolves outside the work folder")
        return folder

    def open(self, key: str) -> None:
        self._folder(key).mkdir(parents=True, exist_ok=True)

    def is_open(self, key: str) -> bool:
        return True  # the local pool's workers die with their parent: no late deliveries

    def put_page(self, key: str, result: PageResult, pdf: Path) -> PageResult:
        folder = self._folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        name = _page_name(result.index)
        target = folder / f"{name}.pdf"
        shutil.copyfile(pdf, target.with_suffix(".pdf.part"))
        os.replace(target.with_suffix(".pdf.part"), target)
        stored = _with_key(result, f"{key}/{name}.pdf")
        tmp = folder / f"{name}.json.part"
        tmp.write_text(json.dumps(stored.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / f"{name}.json")
        return stored

    def fetch_pdf(self, pdf_key: str, dest: Path) -> Path:
        return self.root / _checked(pdf_key, is_page_pdf_key(pdf_key), "page PDF key")

    def done_pages(self, key: str) -> dict[int, PageResult]:
        folder = self._folder(key)
        if not folder.is_dir():
            return {}
        found: dict[int, PageResult] = {}
        for meta in sorted(folder.glob("page-*.json")):
            result = _read_result(meta.read_text(encoding="utf-8"))
            if (
                result is not None
                and _own_pdf(result, key)
                and (self.root / result.pdf_key).is_file()
            ):
                found[result.index] = result
        return found

    def done_page(self, key: str, index: int) -> PageResult | None:
        """One page's stored result, if it is finished (a task delivered twice asks this)."""
        meta = self._folder(key) / f"{_page_name(index)}.json"
        try:
            result = _read_result(meta.read_text(encoding="utf-8"))
        except OSError:
            return None
        if result is None or not _own_pdf(result, key):
            return None
        return result if (self.root / result.pdf_key).is_file() else None

    def clear(self, document_id: str) -> None:
        shutil.rmtree(
            self._folder(_checked(document_id, is_id(document_id), "document id")),
            ignore_errors=True,
        )

    def documents(self) -> list[str]:
        """The documents that have a folder here (see :func:`pipeline.flow.recover.sweep_work`)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_id(p.name))


class ObjectWork:
    """Pages in the ``work`` bucket, for workers on other machines."""

    kind = OBJECTS

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def open(self, key: str) -> None:
        """Mark the document's pages as wanted (done before any page task is sent)."""
        self.objects.put_bytes(self.objects.work_bucket, f"{safe_key(key)}/{_OPEN}", b"")

    def is_open(self, key: str) -> bool:
        """False once the document settled and its folder was cleared: a page task delivered
        again after that (at-least-once delivery) must not leave pages behind."""
        return self.objects.stat(self.objects.work_bucket, f"{safe_key(key)}/{_OPEN}") is not None

    def put_page(self, key: str, result: PageResult, pdf: Path) -> PageResult:
        from pipeline.storage.objects import sha256_file

        name = _page_name(result.index)
        safe_key(key)
        if not self.is_open(key):
            return _with_key(result, f"{key}/{name}.pdf")  # nobody waits for it any more
        bucket = self.objects.work_bucket
        self.objects.put_file(
            bucket, f"{key}/{name}.pdf", pdf, sha256_file(pdf), content_type="application/pdf"
        )
        stored = _with_key(result, f"{key}/{name}.pdf")
        body = json.dumps(stored.to_dict(), ensure_ascii=False).encode("utf-8")
        self.objects.put_bytes(bucket, f"{key}/{name}.json", body, content_type="application/json")
        if not self.is_open(key):  # the document settled while this page ran: take it back
            for suffix in (".json", ".pdf"):
                self.objects.remove(bucket, f"{key}/{name}{suffix}")
        return stored

    def fetch_pdf(self, pdf_key: str, dest: Path) -> Path:
        _checked(pdf_key, is_page_pdf_key(pdf_key), "page PDF key")
        self.objects.download(self.objects.work_bucket, pdf_key, dest)
        return dest

    def done_pages(self, key: str) -> dict[int, PageResult]:
        bucket = self.objects.work_bucket
        found: dict[int, PageResult] = {}
        for meta_key in self.objects.list_keys(bucket, f"{safe_key(key)}/", ".json"):
            result = _read_result(self.objects.get_bytes(bucket, meta_key).decode("utf-8"))
            if result is not None and _own_pdf(result, key):
                found[result.index] = result
        return found

    def done_page(self, key: str, index: int) -> PageResult | None:
        """One page's stored result, if it is finished (its JSON is written after its PDF)."""
        bucket = self.objects.work_bucket
        meta_key = f"{safe_key(key)}/{_page_name(index)}.json"
        if self.objects.stat(bucket, meta_key) is None:
            return None
        result = _read_result(self.objects.get_bytes(bucket, meta_key).decode("utf-8"))
        return result if result is not None and _own_pdf(result, key) else None

    def clear(self, document_id: str) -> None:
        _checked(document_id, is_id(document_id), "document id")
        bucket = self.objects.work_bucket
        keys = list(self.objects.list_keys(bucket, f"{document_id}/"))
        # Markers first: a late page sees the folder closed and takes its own result back.
        for key in sorted(keys, key=lambda k: not k.endswith(f"/{_OPEN}")):
            self.objects.remove(bucket, key)

    def documents(self) -> list[str]:
        """The documents that have objects here (see :func:`pipeline.flow.recover.sweep_work`)."""
        found = {key.partition("/")[0] for key in self.objects.list_keys(self.objects.work_bucket)}
        return sorted(d for d in found if is_id(d))


def _with_key(result: PageResult, pdf_key: str) -> PageResult:
    data: dict[str, Any] = result.to_dict()
    data["pdf_key"] = pdf_key
    return PageResult.from_dict(data)


def _own_pdf(result: PageResult, key: str) -> bool:
    """A stored result names its own PDF inside its own folder, or it is not used."""
    return result.pdf_key == f"{key}/{_page_name(result.index)}.pdf"


def _read_result(text: str) -> PageResult | None:
    try:
        return PageResult.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError):
        return None  # a torn or foreign file: the page is simply run again
