"""The agency signature beside each document on the web: "Đã ký số" and the verdict.

The verdict is the file's own, held to what the metadata records: each archived PDF is
downloaded and verified (integrity, chain to ``SOHOA_SIGN_TRUST``, time-stamp,
revocation data in the file) the first time a page lists it, and a signature the
metadata JSON records but the file lacks (cut back to its unsigned revision) or carries
another of is "Chữ ký số không hợp lệ" with the reason, never "Chưa ký số"
(:func:`pipeline.sign.recorded.against_record`). Verdicts are kept per object version
(the PDF's and the metadata's ETags), so a results page of 50 hits costs HEAD requests
on later views, not 50 verifications; a new version (``sohoa sign --pending`` or
``--extend``, a restored copy) is verified again because its ETag differs. Two requests
for the same unverified object wait for one verification.

For any page that lists documents::

    checker = SignatureChecker(cfg, store_getter)        # once per app
    badges = checker.badges(doc.pdf_key for doc in docs)  # per request: key -> SignatureBadge

and in its template ``{% from "_signature.html" import signature_badge %}`` then
``{{ signature_badge(badges[doc.pdf_key]) }}``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import ConfigError, SohoaError, Unavailable
from pipeline.sign.records import Verdict
from pipeline.storage.objects import ObjectStore

log = logging.getLogger(__name__)
CACHE_ENTRIES = 4096  # verdicts are a few hundred bytes each


@dataclass(frozen=True)
class SignatureBadge:
    """What a listing shows: a short label, its style and the verdict in words."""

    state: str  # "valid", "invalid", "unsigned" or "unknown" (could not be checked now)
    label: str
    verdict: str  # Verdict.text(), or why there is none
    code: str | None = None
    agency: str | None = None
    signed_at: str | None = None
    level: str | None = None

    @classmethod
    def of(cls, verdict: Verdict) -> SignatureBadge:
        if verdict.valid:
            state, label = "valid", "Đã ký số"
        elif verdict.code == "unsigned":
            state, label = "unsigned", "Chưa ký số"
        else:
            state, label = "invalid", "Chữ ký số không hợp lệ"
        # One wording, in Vietnamese, for people (``sohoa verify`` and JSON keep both languages);
        # an unsigned copy (signing pending, or never configured) is not "invalid": say what it is.
        word = {"valid": "Hợp lệ: ", "invalid": "Không hợp lệ: "}.get(state, "")
        text = f"{word}{verdict.reason_vi}"
        return cls(
            state,
            label,
            text,
            verdict.code,
            verdict.agency,
            verdict.signed_at,
            f"PAdES-{verdict.level}" if verdict.level and verdict.signatures else None,
        )

    @classmethod
    def unknown(cls, why: str, code: str | None = None) -> SignatureBadge:
        return cls("unknown", "Chưa kiểm tra được chữ ký", why, code)


class SignatureChecker:
    """Verdicts on archived PDFs, verified once per object version and cached."""

    def __init__(
        self,
        cfg: Config,
        store: Callable[[], ObjectStore],
        *,
        max_entries: int = CACHE_ENTRIES,
    ) -> None:
        from workers.signing import quiet_pyhanko

        quiet_pyhanko()
        self.cfg, self.store, self.max_entries = cfg, store, max_entries
        self._cache: OrderedDict[tuple[str, str, str], Verdict] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str, str], threading.Lock] = {}
        self.verified = 0  # verifications actually run (the cache's misses)

    def badges(self, keys: Iterable[str | None]) -> dict[str, SignatureBadge]:
        """One badge per distinct key (a results page lists a document once per page hit).

        Storage that cannot be reached is tried once per page, not once per document.
        """
        out: dict[str, SignatureBadge] = {}
        down: SignatureBadge | None = None
        for key in dict.fromkeys(k for k in keys if k):
            out[key] = down or self.badge(key)
            if out[key].state == "unknown" and out[key].code == "unreachable":
                down = out[key]
        return out

    def badge(self, key: str) -> SignatureBadge:
        try:
            return SignatureBadge.of(self.verdict(key))
        except (ConfigError, Unavailable) as exc:
            return SignatureBadge.unknown(f"Không kiểm tra được chữ ký: {exc}", "unreachable")
        except SohoaError as exc:
            return SignatureBadge.unknown(f"Không kiểm tra được chữ ký: {exc}")
        except Exception as exc:  # a listing must render even if one check breaks
            log.warning("signature check of %s failed", key, exc_info=True)
            return SignatureBadge.unknown(f"Không kiểm tra được chữ ký ({type(exc).__name__})")

    def verdict(self, key: str) -> Verdict:
        """The verdict on the archived object ``key`` as it is now (raises when unreachable)."""
        store = self.store()
        info = store.stat(store.archive_bucket, key)
        if info is None:
            raise SohoaError("tệp không còn trong kho lưu trữ / the file is not in the archive")
        meta_info = store.stat(store.archive_bucket, _metadata_key(key))
        version = (
            key,
            info.etag or f"size:{info.size}:{info.meta.get('sha256')}",
            meta_info.etag if meta_info is not None else "",
        )
        cached = self._cached(version)
        if cached is not None:
            return cached
        with self._lock:
            gate = self._inflight.setdefault(version, threading.Lock())
        with gate:
            cached = self._cached(version)
            if cached is not None:
                return cached
            verdict = self._verify(store, key, meta_info is not None)
            still = store.stat(store.archive_bucket, key)
            with self._lock:
                self._inflight.pop(version, None)
                if still is not None and still.etag == info.etag:  # not replaced meanwhile
                    self._cache[version] = verdict
                    while len(self._cache) > self.max_entries:
                        self._cache.popitem(last=False)
            return verdict

    def _cached(self, version: tuple[str, str, str]) -> Verdict | None:
        with self._lock:
            verdict = self._cache.get(version)
            if verdict is not None:
                self._cache.move_to_end(version)
            return verdict

    def _verify(self, store: ObjectStore, key: str, has_metadata: bool) -> Verdict:
        from pipeline.sign import verify_pdf
        from pipeline.sign.recorded import against_record

        recorded = _recorded_signature(store, key) if has_metadata else None
        with tempfile.TemporaryDirectory(prefix="sohoa-web-verify-") as tmp:
            path = Path(tmp) / "document.pdf"
            store.download(store.archive_bucket, key, path)
            with self._lock:
                self.verified += 1
            return against_record(verify_pdf(path, trust=self.cfg.sign.trust), recorded)


def _metadata_key(pdf_key: str) -> str:
    return pdf_key[: -len(".pdf")] + ".json" if pdf_key.endswith(".pdf") else pdf_key + ".json"


def _recorded_signature(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The metadata's ``signature`` object, or None (unreadable metadata records nothing)."""
    try:
        meta = json.loads(store.get_bytes(store.archive_bucket, _metadata_key(key)))
    except (ValueError, UnicodeDecodeError):
        return None
    signature = meta.get("signature") if isinstance(meta, dict) else None
    return signature if isinstance(signature, dict) else None
