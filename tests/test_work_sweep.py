"""A worker's sweep clears the finished pages of settled documents and nothing else.

A run cut off from the ledger while another machine took its document over can open the
document's work folder and store a page after the taker had cleared it (seen once in
tests/test_office_hosts.py: an ``open`` marker and one page left in the work bucket).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from pipeline.errors import NotFound
from pipeline.flow.recover import sweep_work
from pipeline.storage.ledger.states import FAILED, INDEXED, PROCESSING, STORED_RAW
from pipeline.storage.work import LocalWork


class _Ledger:
    def __init__(self, docs: dict[str, SimpleNamespace]) -> None:
        self.docs = docs

    def get_document(self, doc_id: str) -> SimpleNamespace:
        if doc_id not in self.docs:
            raise NotFound(f"no document {doc_id}")
        return self.docs[doc_id]

    def family(self, root: str) -> list[SimpleNamespace]:
        return [d for d in self.docs.values() if d.id == root or d.parent_id == root]


def _doc(doc_id: str, state: str, parent: str | None = None, segment: int | None = None):
    return SimpleNamespace(id=doc_id, state=state, parent_id=parent, segment=segment)


def test_the_sweep_clears_settled_documents_only(tmp_path: Path) -> None:
    work = LocalWork(tmp_path / "work")
    docs = {
        "d000000000a1": _doc("d000000000a1", INDEXED),  # settled: its late pages go
        "d000000000a2": _doc("d000000000a2", PROCESSING),  # running: kept
        "d000000000a3": _doc("d000000000a3", STORED_RAW),  # will resume from its pages
        "d000000000a4": _doc("d000000000a4", FAILED),  # retry resumes from its pages
        "d000000000a5": _doc("d000000000a5", INDEXED, segment=1),  # a stack's source...
        "d000000000a6": _doc("d000000000a6", PROCESSING, parent="d000000000a5"),  # ...in use
    }
    for doc_id in [*docs, "d0000000ffff"]:  # the last one: not this ledger's
        folder = tmp_path / "work" / doc_id / "0123456789abcdef-0123"
        folder.mkdir(parents=True)
        (folder / "page-00001.json").write_text("{}")
    services = SimpleNamespace(
        work=work,
        ledger=_Ledger(docs),
        cfg=SimpleNamespace(spool_dir=tmp_path / "spool"),
    )
    assert sweep_work(services) == 1
    assert work.documents() == sorted({*docs, "d0000000ffff"} - {"d000000000a1"})
    docs["d000000000a6"].state = INDEXED  # the stack finished: its shared pages go too
    assert sweep_work(services) == 1
    assert "d000000000a5" not in work.documents()
    assert sweep_work(services) == 0


def test_the_work_bucket_lists_its_documents(cfg) -> None:
    from pipeline.storage.objects import connect
    from pipeline.storage.work import ObjectWork

    objects = connect(cfg)
    objects.ensure_buckets()
    work = ObjectWork(objects)
    assert work.documents() == []
    work.open("d000000000b1/0123456789abcdef-0123")
    work.open("d000000000b2/0123456789abcdef-0456")
    objects.put_bytes(objects.work_bucket, "not-an-id!/x", b"")  # never a document's
    assert work.documents() == ["d000000000b1", "d000000000b2"]
    work.clear("d000000000b1")
    assert work.documents() == ["d000000000b2"]
