"""`sohoa search`, `sohoa reindex` and `sohoa serve`: the records staff's side of the archive."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from minio.error import S3Error

from pipeline.config import Config, ConfigError
from pipeline.storage import index as idx
from pipeline.storage.objects import StorageUnavailable, connect, presigned_url
from workers.cli.output import Output

SEARCH_COLUMNS = ("dossier_code", "document_id", "page", "snippet", "score", "pdf_key", "url")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the search, reindex and serve subcommands to the ``sohoa`` parser."""
    p = subparsers.add_parser(
        "search",
        help="search the archive by words on the page or by dossier code",
        description=(
            "Words may be typed without diacritics; quote a phrase for an exact run of words; "
            "a dossier code ending in * matches every code with that prefix."
        ),
    )
    p.add_argument("query", nargs="+", help="words, a quoted phrase, or a dossier code (prefix*)")
    p.add_argument("--dossier", metavar="CODE", help="only this dossier (CODE* for a prefix)")
    p.add_argument("--station", metavar="S", help="only documents scanned at this station")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="received on or after")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="received on or before")
    p.add_argument("--type", dest="doc_type", metavar="T", help="document type contains T")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N hits (20)")
    p.set_defaults(handler=run_search)

    r = subparsers.add_parser("reindex", help="rebuild the search index from the archive bucket")
    r.set_defaults(handler=run_reindex)

    s = subparsers.add_parser("serve", help="serve the search web page (127.0.0.1 by default)")
    s.add_argument("--host", help="address to bind (default from config: web.host)")
    s.add_argument("--port", type=int, help="port (default from config: web.port)")
    s.set_defaults(handler=run_serve)


def _linker(cfg: Config, out: Output) -> Callable[[str, int], str | None]:
    """Presigned links to the PDF; signing is local, so search works even with MinIO down."""
    try:
        store = connect(cfg)
    except ConfigError as exc:
        out.info(f"no links to the PDFs: {exc}")
        return lambda key, page: None

    def link(key: str, page: int) -> str | None:
        url = presigned_url(store, store.archive_bucket, key, cfg.web.link_expiry_seconds)
        return f"{url}#page={page}"

    return link


def run_search(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    query = " ".join(args.query)
    conn = idx.open_index(cfg.index_path)
    try:
        hits = idx.search(
            conn,
            query,
            dossier=args.dossier,
            station=args.station,
            date_from=args.date_from,
            date_to=args.date_to,
            doc_type=args.doc_type,
            limit=args.limit,
        )
        empty_index = not hits and idx.counts(conn)[1] == 0
    except idx.QueryError as exc:
        out.error(str(exc))
        return 2
    finally:
        conn.close()
    link = _linker(cfg, out) if hits else None
    out.header(SEARCH_COLUMNS)
    for hit in hits:
        record = hit.as_dict()
        record["url"] = link(hit.pdf_key, hit.page) if link else None
        out.row(record, SEARCH_COLUMNS)
    if empty_index:
        out.info("the search index is empty: run `sohoa reindex` to build it from the archive")
    elif not hits:
        out.info("no hits")
    return 0


class _PlainProgress:
    """Progress as occasional lines on stderr, for logs and pipes."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - self.last >= 2.0:
            self.last = now
            self.out.info(f"reindex: {done}/{total} documents")


def run_reindex(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    try:
        store = connect(cfg)
    except ConfigError as exc:
        out.error(str(exc))
        return 2
    try:
        if out.err.isatty() and not out.json_mode:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            columns = (
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=Console(file=out.err)) as bar:
                task = bar.add_task("reindex", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                count = idx.reindex(cfg.index_path, store, progress)
        else:
            count = idx.reindex(cfg.index_path, store, _PlainProgress(out))
    except StorageUnavailable as exc:
        out.error(str(exc))
        return 4
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            out.error(f"archive bucket {cfg.buckets.archive!r} does not exist")
            return 2
        raise
    out.row({"documents": count, "index": str(cfg.index_path)})
    return 0


def run_serve(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    import uvicorn

    from workers.web.app import create_app

    host = args.host or cfg.web.host
    port = args.port or cfg.web.port
    if host not in ("127.0.0.1", "localhost", "::1"):
        out.info(f"warning: serving on {host} without logins; anyone who reaches it can search")
    out.info(f"search page on http://{host}:{port}/")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")
    return 0
