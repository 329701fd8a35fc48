"""`sohoa search`, `sohoa reindex` and `sohoa serve`: the records staff's side of the archive."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from minio.error import S3Error

from pipeline.archive.reindex import reindex
from pipeline.config import Config, valid_port
from pipeline.display import local_date
from pipeline.errors import ConfigError, ExitCode, UsageError
from pipeline.names import display
from pipeline.storage import objects as objects_mod
from pipeline.storage.index import Hit, SearchRequest, open_index
from workers.cli.access import cli_audit
from workers.cli.columns import SEARCH_TABLE
from workers.cli.output import Output
from workers.cli.progress import progress_for

# DESIGN §3's columns, then the document's own fields (issue 13): the machine columns.
SEARCH_COLUMNS = tuple(c.key for c in SEARCH_TABLE)
_MATCH_WORDS = {
    "exact": "đúng dấu",
    "folded": "không dấu",
    "code": "theo mã",
    "fields": "theo số, loại, cơ quan, ngày",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search",
        parents=[common],
        help="search the archive by words on the page or by dossier code",
        description=(
            "Words may be typed without diacritics; quote a phrase for an exact run of words; "
            "a dossier code ending in * matches every code with that prefix."
        ),
    )
    p.add_argument(
        "query",
        nargs="*",
        help="words, a quoted phrase, or a dossier code (prefix*); may be left out with a filter",
    )
    p.add_argument("--dossier", metavar="CODE", help="only this dossier (CODE* for a prefix)")
    p.add_argument("--station", metavar="S", help="only documents scanned at this station")
    p.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="issued on or after DATE, 2026-11-20 or 20/11/2026 (a document whose date was not"
        " read: its dossier's received date)",
    )
    p.add_argument(
        "--to", dest="date_to", metavar="DATE", help="issued on or before DATE (as --from)"
    )
    p.add_argument("--type", dest="doc_type", metavar="T", help="document type contains T")
    p.add_argument(
        "--number",
        metavar="N",
        help="document number: 263/KH-UBND, 263 or KH-UBND (accents and case ignored)",
    )
    p.add_argument("--organ", metavar="O", help="issuing organ (or its governing body) contains O")
    p.add_argument("--component", metavar="C", help="documents of this dossier component")
    p.add_argument("--kind", choices=("submitted", "result"), help="submitted papers or results")
    p.add_argument("--limit", default="20", metavar="N", help="at most N hits (20)")
    p.add_argument(
        "--exact",
        action="store_true",
        help="only pages with the words exactly as typed, diacritics and all (đăng ký, not"
        " đang kỳ)",
    )
    p.add_argument(
        "--urls",
        action="store_true",
        help="fill the url column of tab-separated rows with a presigned link to the PDF page"
        " (long; --json always carries it)",
    )
    p.set_defaults(handler=run_search)

    r = sub.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the search index from the archive",
        description="Rebuild the search index from the archive bucket (MinIO is the system of"
        " record); safe at any time.",
    )
    r.set_defaults(handler=run_reindex)

    s = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the search web page",
        description="Serve the Vietnamese web page (search, dossiers, operators' pages) behind"
        " logins, with the web key.",
    )
    s.add_argument("--host", help="address to bind (default from config: web.host)")
    s.add_argument("--port", help="port (default from config: web.port)")
    s.add_argument(
        "--certfile", "--ssl-certfile", dest="certfile", metavar="PEM", help="serve HTTPS"
    )
    s.add_argument("--keyfile", "--ssl-keyfile", dest="keyfile", metavar="PEM", help="its key")
    s.set_defaults(handler=run_serve)


def _linker(cfg: Config, out: Output) -> Callable[[Hit], str | None]:
    """Presigned links to the PDF; signing is local, so search works even with MinIO down."""
    try:
        store = objects_mod.connect(cfg)
    except ConfigError as exc:
        out.info(f"no links to the PDFs: {exc}")
        return lambda hit: None
    if not objects_mod.can(store, "get", store.archive_bucket):
        out.info(f"no links to the PDFs: the {store.role} key cannot read the archive")
        return lambda hit: None

    def link(hit: Hit) -> str | None:
        url = store.presigned_url(store.archive_bucket, hit.pdf_key, cfg.web.link_expiry_seconds)
        return f"{url}#page={hit.page}"

    return link


def _readable(hits: list[Hit], out: Output) -> None:
    """Hits for a person at a terminal: where, then the snippet with the match in bold."""
    bold, plain = "\033[1m", "\033[0m"
    for n, hit in enumerate(hits, start=1):
        where = f"{hit.dossier_code}  {hit.doc_id}  trang {hit.page}"
        out.text(f"{n:2}. {where}  ({_MATCH_WORDS.get(hit.match, hit.match)})")
        fields = [
            hit.type_name,
            f"số {hit.number}" if hit.number else None,
            f"ngày {local_date(hit.issued_date)}" if hit.issued_date else None,
            hit.subject,
        ]
        if any(fields):
            out.text("    " + display(" · ".join(f for f in fields if f)))
        snippet = "".join(
            f"{bold}{display(t)}{plain}" if marked else display(t)
            for t, marked in hit.snippet_parts
        )
        out.text(f"    {snippet}")


def run_search(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    request = SearchRequest.build(
        " ".join(args.query),
        dossier=args.dossier,
        station=args.station,
        date_from=args.date_from,
        date_to=args.date_to,
        doc_type=args.doc_type,
        limit=args.limit,
        number=args.number,
        organ=args.organ,
        exact_only=args.exact,
        component=args.component,
        kind=args.kind,
    )
    index = open_index(cfg)
    try:
        hits = index.search(request)
        empty_index = not hits and index.counts()[1] == 0
    finally:
        index.close()
    filters = {
        k: v
        for k, v in (
            ("dossier", args.dossier),
            ("station", args.station),
            ("from", args.date_from),
            ("to", args.date_to),
            ("type", args.doc_type),
            ("exact", args.exact),
            ("component", args.component),
            ("kind", args.kind),
        )
        if v
    }
    cli_audit(cfg, "search", query=request.query, filters=filters, hits=len(hits), via="cli")
    if out.terminal:
        _readable(hits, out)
    else:
        # Links are long (~400 characters): in --json always, in tab-separated rows on asking.
        want = hits and (out.json_mode or args.urls)
        link = _linker(cfg, out) if want else None
        out.header(SEARCH_COLUMNS)
        for hit in hits:
            out.row({**hit.as_dict(), "url": link(hit) if link else None}, SEARCH_COLUMNS)
    if empty_index:
        out.info("the search index is empty: run `sohoa reindex` to build it from the archive")
    elif not hits:
        out.info("no hits")
    return int(ExitCode.OK)


def run_reindex(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    objects = objects_mod.connect(cfg)
    index = open_index(cfg)
    try:
        with progress_for(out, "reindex") as progress:
            count = reindex(objects, index, progress)
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            raise ConfigError(f"archive bucket {cfg.buckets.archive!r} does not exist") from None
        raise
    finally:
        index.close()
    out.row({"documents": count, "index": index_location(cfg)})
    return int(ExitCode.OK)


def index_location(cfg: Config) -> str:
    """Where the index lives, for the operator (a database URL without its password)."""
    if cfg.database.url:
        from pipeline.config import public_dict

        return str(public_dict(cfg)["database"]["url"])
    return str(cfg.index_path)


def _port(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise UsageError(f"--port takes a number between 1 and 65535, not {raw!r}")
    return valid_port(int(raw), "--port")


def _bind(host: str, port: int) -> socket.socket:
    """Bind before handing the socket to the server, so a busy port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _tls_files(args: argparse.Namespace) -> tuple[str, str] | None:
    if not args.certfile and not args.keyfile:
        return None
    if not (args.certfile and args.keyfile):
        raise UsageError("HTTPS needs both --certfile and --keyfile")
    for name in (args.certfile, args.keyfile):
        path = Path(name)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise UsageError(f"cannot read {name}")
    return args.certfile, args.keyfile


def run_serve(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    """The web page, once the port is ours and MinIO has shown the key is a web key at most."""
    import uvicorn

    from workers.web.app import create_app
    from workers.web.keycheck import refuse_stronger_key

    host = args.host or cfg.web.host
    port = _port(args.port, cfg.web.port)
    tls = _tls_files(args)
    sock = _bind(host, port)
    try:
        refuse_stronger_key(cfg, "serve")
        app = create_app(cfg)
    except BaseException:
        sock.close()
        raise
    if tls is None and host not in ("127.0.0.1", "localhost", "::1") and not cfg.web.trusted_proxy:
        out.info(
            f"warning: serving plain HTTP on {host}: passwords and session cookies cross the"
            " network in clear text; give --certfile/--keyfile or put it behind the office's"
            " HTTPS proxy"
        )
    out.info(f"web page on {'https' if tls else 'http'}://{host}:{port}/ (log in at /login)")
    config = uvicorn.Config(
        app,
        log_level="warning",
        # Client addresses come from the proxy's secret in the login gate, nowhere else.
        proxy_headers=False,
        server_header=False,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    try:
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
    except ssl.SSLError as exc:
        raise UsageError(f"the certificate or key cannot be used: {exc.reason or exc}") from None
    return int(ExitCode.OK)
