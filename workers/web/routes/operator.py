"""Operator pages: batches with states and reasons, retry and assign, the review queue.

Actions are POST forms (the gate checks their CSRF token) that end in a redirect
back to the page (so a reload never repeats them), with a fixed message chosen by
a code in the URL rather than text a link could carry. The web key cannot run
documents: retry, assign and re-run are queued for a worker in the ledger
(:mod:`pipeline.flow.requeue`), with the operator as the actor; the batches page lists
the workers heard from (:mod:`pipeline.storage.heartbeats`), and the banner after queueing
says whether one is running, so it promises only what will happen.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.archive.layout import split_pages
from pipeline.config import Config
from pipeline.display.workers import START_HINT, queued_notice, worker_name
from pipeline.dossier import normalize_code
from pipeline.dossier.place import ASSIGNED, Place, checked_place
from pipeline.errors import NotFound, UsageError
from pipeline.flow import requeue
from pipeline.storage.heartbeats import live_workers
from pipeline.storage.ledger import batch_rows
from pipeline.storage.ledger.states import STATES
from workers.web.auth import SECURITY_HEADERS
from workers.web.context import OPERATOR, WebContext, form, page
from workers.web.pageimage import page_image

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
BATCH_STATUSES = (*STATES, "in_progress", "done")
MESSAGES = {
    "accept": "Đã chấp nhận kết quả nhận dạng.",
    "none": "Không có tài liệu nào cần chạy lại.",
}
QUEUED_ACTIONS = ("retry", "assign", "rerun")  # a worker carries these out: say whether one runs


def _ident(raw: str) -> str:
    if not _ID_RE.fullmatch(raw):
        raise NotFound(raw[:64])
    return raw


def _back(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?done={done}", status_code=303, headers=SECURITY_HEADERS)


def _message(request: Request, cfg: Config) -> dict[str, str] | None:
    """The banner after an action: ``{"level", "text"}``. For queued work it says whether
    a worker is running now (the heartbeats), so it promises only what will happen."""
    done = request.query_params.get("done", "")
    if done in QUEUED_ACTIONS:
        level, text = queued_notice(done, live_workers(cfg))
        return {"level": level, "text": text}
    text = MESSAGES.get(done)
    return {"level": "notice", "text": text} if text else None


def _form_place(fields: dict[str, str]) -> Place | None:
    """The place in the dossier an assign form gives (its fields may be left empty)."""
    values = {k: (fields.get(k) or "").strip() or None for k in ("component", "kind", "procedure")}
    if not any(values.values()):
        return None
    try:
        return checked_place(values["component"], values["kind"], values["procedure"], ASSIGNED)
    except UsageError:
        raise UsageError(
            "thành phần hồ sơ và mã thủ tục gồm chữ cái không dấu, chữ số, '.', '-', '_'"
            " (tối đa 64 ký tự); loại giấy tờ là giấy tờ nộp hoặc giấy tờ kết quả"
        ) from None


def routes(ctx: WebContext) -> list[Route]:
    def batches(request: Request) -> Response:
        status = request.query_params.get("status", "")
        if status and status not in BATCH_STATUSES:
            raise UsageError("trạng thái không hợp lệ")
        rows = batch_rows(ctx.ledger(), status or None)
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        ctx.record(request, "batches_view", None, status=status or None, batches=len(rows))
        view = {
            "rows": rows,
            "status": status,
            "statuses": BATCH_STATUSES,
            "workers": live_workers(ctx.cfg),
            "worker_name": worker_name,
            "start_hint": START_HINT,
            "lease_seconds": int(ctx.cfg.run.lease_seconds),
        }
        return ctx.render(request, "batches.html", view)

    def batch(request: Request) -> Response:
        ledger = ctx.ledger()
        kind, ident = ledger.resolve_id(_ident(request.path_params["batch_id"]))
        if kind != "batch":
            return RedirectResponse(f"/documents/{ident}", 303, headers=SECURITY_HEADERS)
        docs = ledger.find_documents(batch_id=ident)
        ctx.record(request, "batch_view", ident, documents=[d.id for d in docs])
        view = {
            "batch": ledger.get_batch(ident),
            "docs": docs,
            "retryable": {d.id for d in docs if requeue.can_retry(d)},
            "assignable": {d.id for d in docs if d.state in requeue.ASSIGN_STATES},
            "message": _message(request, ctx.cfg),
        }
        return ctx.render(request, "batch.html", view)

    def document(request: Request) -> Response:
        ledger = ctx.ledger()
        kind, ident = ledger.resolve_id(_ident(request.path_params["doc_id"]))
        if kind != "document":
            return RedirectResponse(f"/batches/{ident}", 303, headers=SECURITY_HEADERS)
        doc = ledger.get_document(ident)
        ctx.record(request, "document_view", doc.id, doc.dossier_code, batch=doc.batch_id)
        view = {
            "doc": doc,
            "events": ledger.events(document_id=ident),
            "retryable": requeue.can_retry(doc),
            "assignable": doc.state in requeue.ASSIGN_STATES,
            "message": _message(request, ctx.cfg),
        }
        return ctx.render(request, "document.html", view)

    def retry_batch(request: Request) -> Response:
        ledger = ctx.ledger()
        kind, bid = ledger.resolve_id(_ident(request.path_params["batch_id"]))
        if kind != "batch":
            raise NotFound(bid)
        queued = [
            requeue.queue_retry(ledger, doc.id, ctx.actor(request)).id
            for doc in ledger.find_documents(batch_id=bid)
            if requeue.can_retry(doc)
        ]
        ctx.record(request, "retry", bid, batch=bid, documents=queued)
        return _back(f"/batches/{bid}", "retry" if queued else "none")

    def retry_document(request: Request) -> Response:
        ident = _ident(request.path_params["doc_id"])
        doc = requeue.queue_retry(ctx.ledger(), ident, ctx.actor(request))
        ctx.record(request, "retry", doc.id, batch=doc.batch_id, documents=[doc.id])
        return _back(f"/documents/{doc.id}", "retry")

    def assign(request: Request) -> Response:
        ident = _ident(request.path_params["doc_id"])
        fields = form(request)
        raw = fields.get("dossier", "")
        code = normalize_code(raw) if len(raw) <= 80 else None
        if code is None:
            raise UsageError("mã hồ sơ không hợp lệ (ví dụ 000.00.13.H38-261127-0001)")
        place = _form_place(fields)
        doc = requeue.queue_assign(ctx.ledger(), ident, code, ctx.actor(request), place)
        placed = place.fields() if place is not None else {}
        ctx.record(request, "assign", doc.id, dossier=code, dossier_code=code, **placed)
        return _back(f"/documents/{doc.id}", "assign")

    # -- review --------------------------------------------------------------------------
    def review_queue(request: Request) -> Response:
        docs = requeue.flagged(ctx.ledger())
        ctx.record(request, "review_queue_view", None, documents=len(docs))
        view = {"docs": docs, "message": _message(request, ctx.cfg)}
        return ctx.render(request, "review.html", view)

    def _flagged_pages(doc) -> list[int]:
        docs = ctx.index.dossier_documents(doc.dossier_code) if doc.dossier_code else []
        meta = next((d.meta for d in docs if d.pdf_key == doc.pdf_key), None)
        pages = ((meta or {}).get("ocr") or {}).get("pages_needing_review") or []
        return [int(p) for p in pages if isinstance(p, int) and 1 <= p <= (doc.pages or 0)]

    def review_document(request: Request) -> Response:
        doc = ctx.ledger().get_document(_ident(request.path_params["doc_id"]))
        if doc.state != "indexed" or not doc.review or not doc.text_key:
            raise NotFound(doc.id)
        store = ctx.store()
        text = store.get_bytes(store.archive_bucket, doc.text_key).decode("utf-8", "replace")
        texts = split_pages(text, doc.pages)
        numbers = _flagged_pages(doc)
        flagged_pages = [(n, texts[n - 1] if n <= len(texts) else "") for n in numbers]
        ctx.record(request, "review_view", doc.pdf_key, doc.dossier_code, pages=numbers)
        view = {"doc": doc, "pages": flagged_pages}
        return ctx.render(request, "review_document.html", view)

    def review_image(request: Request) -> Response:
        doc = ctx.ledger().get_document(_ident(request.path_params["doc_id"]))
        raw = request.path_params["page"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
            raise NotFound(raw[:8])
        number = int(raw)
        if not doc.pdf_key or not doc.pages or not 1 <= number <= doc.pages:
            raise NotFound(doc.id)
        store = ctx.store()
        ctx.cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=ctx.cfg.tmp_dir, prefix="web-") as tmp:
            local = Path(tmp) / "doc.pdf"
            store.download(store.archive_bucket, doc.pdf_key, local)
            data, media_type = page_image(local, number - 1)
        ctx.record(request, "review_image", doc.pdf_key, doc.dossier_code, page=number)
        headers = {**SECURITY_HEADERS, "Content-Type": media_type}
        return Response(data, media_type=media_type, headers=headers)

    def accept(request: Request) -> Response:
        ident = _ident(request.path_params["doc_id"])
        doc = requeue.accept_review(ctx.ledger(), ident, ctx.actor(request))
        ctx.record(request, "review_accept", doc.pdf_key, document=doc.id)
        return _back("/review", "accept")

    def rerun(request: Request) -> Response:
        ident = _ident(request.path_params["doc_id"])
        doc = requeue.queue_rerun(ctx.ledger(), ident, ctx.actor(request))
        ctx.record(request, "review_rerun", doc.pdf_key, document=doc.id)
        return _back("/review", "rerun")

    post = ("POST",)
    return [
        page(ctx, "/batches", batches, role=OPERATOR),
        page(ctx, "/batches/{batch_id}", batch, role=OPERATOR),
        page(ctx, "/batches/{batch_id}/retry", retry_batch, role=OPERATOR, methods=post),
        page(ctx, "/documents/{doc_id}", document, role=OPERATOR),
        page(ctx, "/documents/{doc_id}/retry", retry_document, role=OPERATOR, methods=post),
        page(ctx, "/documents/{doc_id}/assign", assign, role=OPERATOR, methods=post),
        page(ctx, "/review", review_queue, role=OPERATOR),
        page(ctx, "/review/{doc_id}", review_document, role=OPERATOR),
        page(ctx, "/review/{doc_id}/page/{page}", review_image, role=OPERATOR),
        page(ctx, "/review/{doc_id}/accept", accept, role=OPERATOR, methods=post),
        page(ctx, "/review/{doc_id}/rerun", rerun, role=OPERATOR, methods=post),
    ]
