"""`sohoa sign --pending | --extend` and `sohoa verify KEY|FILE`: the agency's signature after
archiving.

``sign --pending`` is for the office whose token holder signs at the end of the day:
documents archived unsigned while the token was away (``sign.required`` false) are
signed where they lie, each as a new version of the same object; with
``--include-unsigned`` also those archived before signing was configured at all.
``sign --extend`` renews long-term signatures whose last time-stamp nears its end
(:mod:`pipeline.flow.extend`), run by an operator or a timer, one report line per copy.
``verify`` is the check on the way out: an archived copy read from MinIO (held to the
signature its metadata records), or any file, judged on integrity, chain, time-stamp
and revocation, with the verdict in Vietnamese and English; exit 0 valid, 5 invalid,
6 not signed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Config, storage_role
from pipeline.errors import (
    ConfigError,
    ExitCode,
    NotAllowed,
    NotFound,
    SignError,
    SignerUnavailable,
    SohoaError,
    StorageUnavailable,
    UsageError,
)
from pipeline.flow.extend import extend_archived, extendable_documents
from pipeline.flow.steps.sign import failure_reason, pending_documents, sign_archived
from pipeline.storage import objects as objects_mod
from pipeline.storage.ledger import cli_actor
from pipeline.storage.objects import sha256_file
from workers.cli.access import cli_audit
from workers.cli.output import Output
from workers.services import services
from workers.signing import quiet_pyhanko

if TYPE_CHECKING:
    from pipeline.sign.records import Verdict

SIGN_COLUMNS = ("document_id", "dossier_code", "pdf_key", "status", "signature", "error")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sign",
        parents=[common],
        help="sign archived documents that wait for the agency signature, or renew signatures",
        description=(
            "--pending: sign, in place, the documents archived unsigned because signing failed "
            "(sign.required off): same key, a new object version, the metadata updated. "
            "--extend: renew long-term signatures (PAdES-B-LTA) whose last time-stamp's "
            "certificate expires within the margin."
        ),
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--pending", action="store_true", help="every document waiting to be signed")
    what.add_argument(
        "--extend",
        action="store_true",
        help="renew the long-term signatures whose last time-stamp nears its expiry",
    )
    p.add_argument(
        "--include-unsigned",
        action="store_true",
        help="with --pending: also documents archived before signing was configured",
    )
    p.add_argument(
        "--margin",
        type=int,
        metavar="DAYS",
        help="with --extend: renew time-stamps whose certificate expires within DAYS "
        "(default sign.extend_margin_days)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="at most N documents, oldest first")
    p.set_defaults(handler=cmd_sign)

    v = sub.add_parser(
        "verify",
        parents=[common],
        help="check the agency signature of an archived PDF (KEY) or a file",
        description=(
            "KEY is an archive key (<code>/<code>.<n>.pdf) read from MinIO; FILE a local PDF. "
            "Trust roots: SOHOA_SIGN_TRUST (else the system store). "
            "Exit 0 valid, 5 invalid, 6 not signed."
        ),
    )
    v.add_argument("target", metavar="KEY|FILE")
    v.add_argument(
        "--online",
        action="store_true",
        help="also ask the CA's OCSP/CRL services (for signatures without revocation data)",
    )
    v.set_defaults(handler=cmd_verify)


# ------------------------------------------------------------------------- sign --pending


@contextmanager
def _one_at_a_time(cfg: Config) -> Iterator[None]:
    """Two runs at once would each upload a version and race on the metadata."""
    cfg.home.mkdir(parents=True, exist_ok=True)
    with open(cfg.home / "sign-pending.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SohoaError(
                "another `sohoa sign --pending` or `--extend` is running on this machine"
            ) from None
        yield


def _check_args(args: argparse.Namespace, cfg: Config) -> None:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.include_unsigned and not args.pending:
        raise UsageError("--include-unsigned goes with --pending")
    if args.margin is not None and not args.extend:
        raise UsageError("--margin goes with --extend")
    if args.margin is not None and args.margin < 1:
        raise UsageError("--margin must be at least 1 day")
    role = storage_role(cfg)
    if role not in (None, "worker"):  # a new version of each archived PDF: the worker's key (§8)
        command = "--extend" if args.extend else "--pending"
        raise NotAllowed(
            f"sohoa sign {command} writes new versions into the archive, which needs the worker"
            f" key; this process has the {role} key (SOHOA_MINIO_ROLE={role})"
        )


def cmd_sign(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    _check_args(args, cfg)
    if args.extend:
        return _extend(args, cfg, out)
    if not cfg.sign.enabled:
        raise ConfigError(
            "signing is not configured: set SOHOA_SIGN_PKCS12 or SOHOA_SIGN_PKCS11_MODULE"
            " (README, 'Signed copies')"
        )
    quiet_pyhanko()
    with _one_at_a_time(cfg), services(cfg, pages=False) as svc:
        docs = pending_documents(svc, args.limit, include_unsigned=args.include_unsigned)
        out.header(SIGN_COLUMNS)
        if not docs:
            out.info(
                "nothing to sign: no archived document waits for its signature"
                + ("" if args.include_unsigned else " (--include-unsigned: also the unsigned)")
            )
            return int(ExitCode.OK)
        out.info(f"signing {len(docs)} document(s) waiting for the agency signature")
        actor, failed = cli_actor(), 0
        for n, doc in enumerate(docs):
            row: dict[str, Any] = {
                "document_id": doc.id,
                "dossier_code": doc.dossier_code,
                "pdf_key": doc.pdf_key,
            }
            tmp = cfg.tmp_dir / f"{os.getpid()}-sign-{doc.id}"
            try:
                done = sign_archived(svc, doc, actor=actor, tmp=tmp)
            except (SignError, StorageUnavailable):
                # the signer (or storage) itself: every document after this one would fail alike
                out.info(f"stopped: {len(docs) - n} document(s) still wait to be signed")
                raise
            except SohoaError as exc:  # this document alone (its object does not match)
                out.row({**row, "status": "failed", "error": failure_reason(exc)}, SIGN_COLUMNS)
                failed += 1
                continue
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            out.row({**row, "status": "signed", "signature": done.signature}, SIGN_COLUMNS)
    return int(ExitCode.FAILED) if failed else int(ExitCode.OK)


# ------------------------------------------------------------------------- sign --extend

EXTEND_COLUMNS = (
    "document_id",
    "dossier_code",
    "pdf_key",
    "status",
    "signature",
    "renew_before",
    "previous_renew_before",
    "error",
)


def _extend(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    """One report line per copy with a time-stamp: extended, not-due or failed (and why)."""
    if not cfg.sign.tsa_url:
        raise ConfigError(
            "sign --extend needs a time-stamp authority: set SOHOA_SIGN_TSA_URL"
            " (README, 'Signed copies')"
        )
    margin = args.margin or cfg.sign.extend_margin_days
    quiet_pyhanko()
    with _one_at_a_time(cfg), services(cfg, pages=False, signing=False) as svc:
        docs = extendable_documents(svc)[: args.limit] if args.limit else extendable_documents(svc)
        out.header(EXTEND_COLUMNS)
        out.info(
            f"checking {len(docs)} time-stamped copies: renewing those whose last time-stamp's"
            f" certificate expires within {margin} days"
        )
        actor, failed, renewed = cli_actor(), 0, 0
        for n, doc in enumerate(docs):
            row: dict[str, Any] = {
                "document_id": doc.id,
                "dossier_code": doc.dossier_code,
                "pdf_key": doc.pdf_key,
            }
            tmp = cfg.tmp_dir / f"{os.getpid()}-extend-{doc.id}"
            try:
                done = extend_archived(svc, doc, cfg.sign, margin_days=margin, actor=actor, tmp=tmp)
            except (SignerUnavailable, StorageUnavailable, ConfigError):
                # the TSA, OCSP or storage itself: every copy after this one would fail alike
                out.info(f"stopped: {len(docs) - n} copies not checked; run it again later")
                raise
            except SohoaError as exc:  # this copy alone (its chain, its object)
                out.row({**row, "status": "failed", "error": failure_reason(exc)}, EXTEND_COLUMNS)
                failed += 1
                continue
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            renewed += done.status == "extended"
            out.row(
                {
                    **row,
                    "status": done.status,
                    "signature": done.level,
                    "renew_before": done.renew_before,
                    "previous_renew_before": done.previous_renew_before,
                },
                EXTEND_COLUMNS,
            )
        out.info(f"renewed {renewed}, failed {failed}, not due {len(docs) - renewed - failed}")
    return int(ExitCode.FAILED) if failed else int(ExitCode.OK)


# -------------------------------------------------------------------------------- verify


def _fetch(cfg: Config, key: str, dest: Path) -> dict[str, Any]:
    """Download an archived PDF; what is known about it beside the bytes."""
    key = key.strip().lstrip("/")
    if not key.endswith(".pdf") or "/" not in key or ".." in key.split("/"):
        raise NotFound(f"no such file, and not an archive key (<code>/<code>.<n>.pdf): {key!r}")
    store = objects_mod.connect(cfg)
    bucket = store.archive_bucket
    info = store.stat(bucket, key)
    if info is None:
        raise NotFound(f"no object {bucket}/{key} in the archive")
    store.download(bucket, key, dest)
    facts: dict[str, Any] = {"key": key, "bucket": bucket, "etag": info.etag}
    meta_key = key[: -len(".pdf")] + ".json"
    try:
        meta = json.loads(store.get_bytes(bucket, meta_key))
    except Exception:  # no metadata (or unreadable): the signature speaks for itself
        facts["metadata"] = "missing"
        return facts
    digest = sha256_file(dest)
    recorded = (meta.get("file") or {}).get("sha256")
    facts["metadata"] = "agrees" if recorded == digest else "differs"
    facts["metadata_signature"] = (meta.get("signature") or {}).get("level")
    facts["recorded_signature"] = meta.get("signature") or None
    facts["signature_pending"] = meta.get("signature_pending")
    return facts


def cmd_verify(args: argparse.Namespace, cfg: Config, out: Output) -> int:
    quiet_pyhanko()
    from pipeline.sign import verify_pdf
    from pipeline.sign.recorded import against_record

    with tempfile.TemporaryDirectory(prefix="sohoa-verify-") as tmp:
        path = Path(args.target)
        if path.is_file():
            facts: dict[str, Any] = {"file": str(path)}
        else:
            facts = _fetch(cfg, args.target, Path(tmp) / "archived.pdf")
            path = Path(tmp) / "archived.pdf"
        verdict = verify_pdf(path, trust=cfg.sign.trust, fetch=args.online)
    verdict = against_record(verdict, facts.pop("recorded_signature", None))
    if "key" in facts:  # an archived document was read: audited like a search or a PDF open
        cli_audit(cfg, "verify", facts["key"], valid=verdict.valid, via="cli")
    record = {**facts, **verdict.as_dict(), "verdict": verdict.text()}
    if out.json_mode:
        out.row(record)
    else:
        _print_verdict(record, out)
    return verdict_exit_code(verdict)


def verdict_exit_code(verdict: Verdict) -> int:
    """0 valid, 6 not signed (no signature and none recorded), 5 invalid."""
    if verdict.valid:
        return int(ExitCode.OK)
    return int(ExitCode.NOT_SIGNED if verdict.unsigned else ExitCode.NOT_ALLOWED)


def archived_verdict(cfg: Config, pdf_key: str) -> dict[str, Any]:
    """The signature check ``sohoa show`` prints for an archived document: the same verdict as
    ``sohoa verify KEY`` (held to the metadata's record), or why it could not be made."""
    quiet_pyhanko()
    from pipeline.sign import verify_pdf
    from pipeline.sign.recorded import against_record

    try:
        with tempfile.TemporaryDirectory(prefix="sohoa-show-") as tmp:
            facts = _fetch(cfg, pdf_key, Path(tmp) / "archived.pdf")
            verdict = verify_pdf(Path(tmp) / "archived.pdf", trust=cfg.sign.trust)
    except SohoaError as exc:
        return {"state": "unknown", "verdict": f"Không kiểm tra được chữ ký / not checked: {exc}"}
    verdict = against_record(verdict, facts.get("recorded_signature"))
    state = "valid" if verdict.valid else "unsigned" if verdict.unsigned else "invalid"
    return {"state": state, "code": verdict.code, "verdict": verdict.text()}


def _print_verdict(r: dict[str, Any], out: Output) -> None:
    out.text(r["verdict"])
    level = f"PAdES-{r['level']}" if r.get("level") else None
    lines = [
        ("tệp / file", r.get("file") or f"{r.get('bucket')}/{r.get('key')}"),
        ("người ký / signer", r.get("signer")),
        ("cơ quan / agency", r.get("agency")),
        ("số hiệu / serial", r.get("serial")),
        ("cấp bởi / issuer", r.get("issuer")),
        ("thời gian ký / signed at", r.get("signed_at")),
        ("dấu thời gian / time-stamp", r.get("timestamp")),
        ("mức / level", level),
    ]
    if r.get("signatures"):
        checked = "có / yes" if r.get("revocation_checked") else "không / no"
        lines.append(("kiểm tra thu hồi / revocation checked", checked))
    for label, value in lines:
        if value:
            out.text(f"  {label}: {value}")
    if r.get("metadata") == "differs":
        out.info(
            "warning: this object is not the file its metadata JSON records (SHA-256 differs);"
            " an interrupted `sohoa sign --pending` leaves that, so does a replaced object"
        )
    if r.get("signature_pending"):
        out.info(f"the metadata says signing is pending: {r['signature_pending'].get('reason')}")
