"""Signatures per minute: PKCS#12 and SoftHSM2, PAdES B-B, B-T and B-LT, on a typical archive PDF.

    .venv/bin/python -m bench.sign [--docs 60] [--pages 3] [--procs 1]

A ~1.3 MB 3-page PDF/A-2b made by the project's own writer is signed ``--docs``
times per row by one signer reused across documents, as a worker process does
(keys loaded once, PKCS#11 session kept open). The PKI, OCSP responder and TSA
are the tests' own, on loopback (tests/support/pki.py), so B-T and B-LT include
a real HTTP round trip per signature but no Internet latency; the TSA and OCSP
responder run in this process and share its two cores. ``verify`` rows time
``verify_pdf`` on the signed file. ``--procs N`` adds rows with N processes,
each with its own signer, to show that signing scales with workers.

The issue's target: at least 600 signatures/min with either key store.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import machine, table

TARGET_PER_MIN = 600


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def _row(
    store: str, level: str, times: list[float], procs: int = 1, wall: float | None = None
) -> list[object]:
    """One table row; ``wall`` (seconds for all of ``times``) gives the rate of a parallel run."""
    per_min = 60 * len(times) / wall if wall else 60 / statistics.mean(times)
    p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
    verdict = "yes" if per_min >= TARGET_PER_MIN else "NO"
    return [
        store,
        level,
        procs,
        len(times),
        f"{statistics.median(times) * 1000:.0f}",
        f"{p95 * 1000:.0f}",
        f"{per_min:.0f}",
        "" if level.startswith("verify") else verdict,
    ]


def _worker(args: tuple[str, dict, dict, str, str, int]) -> tuple[list[float], float, float]:
    """One process's share of a parallel row: its own signer, ``n`` signatures, and the
    wall-clock window of the timed part (so start-up is not counted)."""
    from pipeline.config import SignConfig
    from pipeline.sign import open_signer, sign_pdf

    _kind, cfg_kwargs, env, src, out_dir, n = args
    cfg = SignConfig(**cfg_kwargs)
    with open_signer(cfg, env) as signer:
        sign_pdf(signer, Path(src), Path(out_dir) / f"warm-{os.getpid()}.pdf")
        dst = Path(out_dir) / f"par-{os.getpid()}.pdf"
        start = time.time()
        times = _timed(lambda: sign_pdf(signer, Path(src), dst), n)
        return times, start, time.time()


def _serve_pki(folder: str, conn) -> None:  # type: ignore[no-untyped-def]
    """Child process: the test PKI's services, its PKCS#12 files and a SoftHSM2 token."""
    from tests.support.pki import running_pki, softhsm

    with running_pki(Path(folder) / "pki") as pki:
        hsm = softhsm(Path(folder) / "softhsm")
        hsm.init_token("bench")
        for label in ("plain", "agency"):
            hsm.import_key("bench", pki.certs[label], label)
        conn.send(
            {
                "url": pki.url,
                "trust": str(pki.write_trust()),
                "p12": {label: str(pki.write_pkcs12(label)) for label in ("plain", "agency")},
                "softhsm_conf": str(hsm.conf),
            }
        )
        conn.recv()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=60, help="signatures per row")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--procs", type=int, default=1, help="also run N processes in parallel")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sohoa-bench-sign-"))
    # The PKI's services (TSA, OCSP, CRL) run in a process of their own, as a real TSA
    # runs on another machine: in this one they would contend for its interpreter lock.
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    server = spawn.Process(target=_serve_pki, args=(str(work), theirs), daemon=True)
    server.start()
    pki = ours.recv()
    # libsofthsm2 reads its configuration when first loaded: point it at the tokens first
    os.environ["SOFTHSM2_CONF"] = pki["softhsm_conf"]

    from pipeline.config import SignConfig
    from pipeline.sign import open_signer, sign_pdf, verify_pdf
    from tests.support.archived import make_archived_pdf
    from tests.support.pki import PASSPHRASE, PIN, SOFTHSM_MODULE

    src = make_archived_pdf(work / "doc.pdf", pages=args.pages)
    size_mb = src.stat().st_size / 1e6
    load_before = os.getloadavg()
    rows: list[list[object]] = []
    trust = Path(pki["trust"])
    envs = {
        "pkcs12": {"SOHOA_SIGN_PASSPHRASE": PASSPHRASE},
        "pkcs11": {"SOHOA_SIGN_PKCS11_PIN": PIN},
    }

    def config(store: str, label: str, tsa: bool) -> dict:
        base: dict = {"trust": trust, "tsa_url": f"{pki['url']}/tsa" if tsa else None}
        if store == "pkcs12":
            return {**base, "pkcs12": Path(pki["p12"][label])}
        return {**base, "pkcs11_module": str(SOFTHSM_MODULE), "token": "bench", "key_label": label}

    try:
        # B-LT needs a certificate naming OCSP/CRL locations ("agency"); B-B/B-T use "plain"
        levels = [("B-B", "plain", False), ("B-T", "plain", True), ("B-LT", "agency", True)]
        for store in ("pkcs12", "pkcs11"):
            for level, label, tsa in levels:
                cfg = SignConfig(**config(store, label, tsa))
                with open_signer(cfg, envs[store]) as signer:
                    dst = work / f"{store}-{level}.pdf"
                    for _ in range(3):  # warm-up: imports, font cut, TSA connection
                        rec = sign_pdf(signer, src, dst)
                    assert rec.level == level, (rec.level, level)
                    times = _timed(lambda s=signer, d=dst: sign_pdf(s, src, d), args.docs)
                rows.append(_row(store, level, times))
                print(f"  {store} {level}: done", file=sys.stderr)
        for name in ("pkcs12-B-B", "pkcs12-B-T", "pkcs12-B-LT"):
            path = work / f"{name}.pdf"
            assert verify_pdf(path, trust=trust).valid
            times = _timed(lambda p=path: verify_pdf(p, trust=trust), max(10, args.docs // 2))
            rows.append(_row("-", "verify " + name.split("-", 1)[1], times))
        if args.procs > 1:
            for store in ("pkcs12", "pkcs11"):
                kwargs = config(store, "plain", True)
                jobs = [
                    (store, kwargs, envs[store], str(src), str(work), args.docs)
                    for _ in range(args.procs)
                ]
                # spawn, not fork: a PKCS#11 module initialised in the parent must not be inherited
                with ProcessPoolExecutor(args.procs, mp_context=spawn) as pool:
                    results = list(pool.map(_worker, jobs))
                wall = max(r[2] for r in results) - min(r[1] for r in results)
                times = [t for r in results for t in r[0]]
                rows.append(_row(store, "B-T", times, procs=args.procs, wall=wall))
    finally:
        ours.send("stop")
        server.join(timeout=10)
    load_after = os.getloadavg()

    print(f"\nmachine: {machine()}")
    print(
        f"document: {args.pages} pages, {size_mb:.2f} MB PDF/A-2b; {args.docs} signatures per row; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    print("signer keys: RSA 2048 (agency), TSA and CA: ECDSA P-256, all services on 127.0.0.1\n")
    headers = ["key store", "level", "procs", "docs", "ms p50", "ms p95", "per min"]
    headers.append(f">= {TARGET_PER_MIN}")
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
