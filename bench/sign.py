"""Signatures per minute (PKCS#12, SoftHSM2; B-B, B-T, B-LT, B-LTA) with EU DSS's verdict on
each, renewals (`sign --extend`) per document, and end-to-end pages/min with signing on vs
off on the same pages.

    .venv/bin/python -m bench.sign [--docs 60] [--pages 3] [--procs 1]
                                   [--e2e-pages 12] [--e2e-doc-pages 3] [--rounds 2]

A ~1.3 MB 3-page PDF/A-2b made by the project's own writer is signed ``--docs``
times per row by one signer reused across documents, as a worker process does
(keys loaded once, PKCS#11 session kept open). The PKI, OCSP responder and TSA
are the tests' own, on loopback (tests/support/pki.py), so B-T and above include
a real HTTP round trip per signature but no Internet latency; the TSA and OCSP
responder run in a process of their own and share the machine's cores. Every level
is signed with the agency certificate (it names OCSP and CRL; B-T is that with
revocation data off, B-LT with the document time-stamp off), and the last copy of
each row goes to EU DSS (scripts/get-dss.sh): its level and indication are in the
table (B-B and B-T are judged with DSS fetching revocation data, the long-term forms
on what they carry). ``extend`` rows time renewing a B-LTA copy (fresh revocation
data and a new document time-stamp, after the TSA rotated its certificate), per
document. ``verify`` rows time ``verify_pdf`` on the signed file. ``--procs N`` adds
rows with N processes, each with its own signer, to show that signing scales.

The issue's target: at least 600 signatures/min with either key store.

The end-to-end table (``--e2e-pages N``; 0 skips it) runs ``sohoa process`` on the same
generated pages (300 dpi, degraded as in bench/throughput.py, ``--e2e-doc-pages`` pages per
file, all files in one call as the watcher meets a full inbox) against a real MinIO, with
signing off, with a PKCS#12 key and with the SoftHSM2 token (both B-T against the loopback
TSA). Runs alternate (off, p12, p11, then p11, p12, off…) over ``--rounds`` rounds so a
shared machine's drift falls on every row alike; each row gives its median. Every signed
run is checked to have archived signed copies. Target: signing on ≥ 0.95× the pages/min
of signing off.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import machine, table

TARGET_PER_MIN = 600
TARGET_E2E_RATIO = 0.95
E2E_CODE = "000.00.13.H38-261127-0501"


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def _row(
    store: str,
    level: str,
    times: list[float],
    procs: int = 1,
    wall: float | None = None,
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
    """Child process: the test PKI's services, its PKCS#12 files and a SoftHSM2 token.

    The TSA first signs with a certificate that ends in 30 days ("tsa-old"), so every
    B-LTA copy is due for renewal; "rotate" switches it to its ten-year certificate."""
    from tests.support.pki import running_pki, softhsm

    with running_pki(Path(folder) / "pki") as pki:
        pki.issue("tsa-old", "sohoa Test TSA (old)", "sohoa test PKI", tsa=True, days=(-300, 30))
        pki.tsa_label = "tsa-old"
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
        while conn.recv() == "rotate":
            pki.tsa_label = "tsa"
            conn.send("rotated")


def _dss_verdicts(
    trust: Path, signed: dict[tuple[str, str], Path], extended: dict[str, Path]
) -> dict[tuple[str, str], tuple[str, str]]:
    """EU DSS's (level, indication) per table row: B-B and B-T with DSS fetching revocation
    data itself, the long-term forms (and the renewed copies) on what they carry."""
    from tests.support.dss import DssValidator

    out: dict[tuple[str, str], tuple[str, str]] = {}
    jobs = [
        (online, key, path) for key, path in signed.items() for online in [key[1] in ("B-B", "B-T")]
    ]
    jobs += [(False, (store, "extend B-LTA"), path) for store, path in extended.items()]
    for online in (True, False):
        batch = [(key, path) for flag, key, path in jobs if flag == online]
        validator = DssValidator(trust, online=online)
        try:
            reports = validator.check(path for _, path in batch)
        finally:
            validator.close()
        for (key, _), report in zip(batch, reports, strict=True):
            sig = report.signatures[0] if report.signatures else None
            out[key] = (
                sig.format if sig else f"error: {report.error}",
                (sig.indication or "") if sig else "",
            )
    return out


def _e2e_files(pages: int, per_doc: int, work: Path) -> list[Path]:
    """``pages`` generated pages in files of ``per_doc`` pages each (JPEG pages in a PDF)."""
    import img2pdf

    from bench.throughput import make_pages

    work.mkdir(parents=True, exist_ok=True)
    _, jpgs, _ = make_pages(pages, 300, work)
    files = []
    for n, start in enumerate(range(0, pages, per_doc)):
        path = work / f"doc-{n:02d}.pdf"
        path.write_bytes(img2pdf.convert([str(j) for j in jpgs[start : start + per_doc]]))
        files.append(path)
    return files


def _e2e_run(files: list[Path], env: dict[str, str], work: Path, tag: str) -> tuple[float, float]:
    """One `sohoa process` of every file into fresh buckets and home: its wall-clock seconds,
    and the CPU seconds of its whole process tree (page workers and signer included), which
    a busy machine changes far less than the wall clock."""
    import json
    import resource

    from bench.common import run_measured

    suffix = tag.lower()
    env = {
        **env,
        "SOHOA_HOME": str(work / f"home-{suffix}"),
        "SOHOA_BUCKET_RAW": f"raw-{suffix}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-{suffix}",
        "SOHOA_BUCKET_WORK": f"work-{suffix}",
    }
    cmd = [sys.executable, "-m", "workers.cli", "--json", "process"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = run_measured([*cmd, *map(str, files), "--dossier", E2E_CODE], env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    # A file holding a receipt page splits into two documents: one row or more per file.
    if run.returncode != 0 or {r["source"] for r in rows} != {str(f) for f in files}:
        raise SystemExit(
            f"sohoa process failed ({tag}, exit {run.returncode}, {len(rows)} of {len(files)}"
            f" rows): {run.stderr[-2000:]} {run.stdout[-2000:]}"
        )
    signed = "SOHOA_SIGN_PKCS12" in env or "SOHOA_SIGN_PKCS11_MODULE" in env
    for row in rows:
        if row["status"] != "indexed" or (row.get("signature") or "").startswith("PAdES") != signed:
            raise SystemExit(f"{tag}: a document came out {row['status']}, {row.get('signature')}")
    return run.seconds, cpu


def _e2e_rows(args: argparse.Namespace, pki: dict, work: Path) -> tuple[list[list[object]], str]:
    """Pages/min of `sohoa process` with signing off, PKCS#12 and SoftHSM2, same pages."""
    from tests.support.minio import new_server
    from tests.support.pki import PASSPHRASE, PIN, SOFTHSM_MODULE

    files = _e2e_files(args.e2e_pages, args.e2e_doc_pages, work / "pages")
    tsa = {"SOHOA_SIGN_TSA_URL": f"{pki['url']}/tsa", "SOHOA_SIGN_TRUST": pki["trust"]}
    variants = {
        "off": {},
        "PKCS#12 B-T": {
            **tsa,
            "SOHOA_SIGN_PKCS12": pki["p12"]["plain"],
            "SOHOA_SIGN_PASSPHRASE": PASSPHRASE,
        },
        "SoftHSM2 B-T": {
            **tsa,
            "SOHOA_SIGN_PKCS11_MODULE": str(SOFTHSM_MODULE),
            "SOHOA_SIGN_PKCS11_TOKEN": "bench",
            "SOHOA_SIGN_PKCS11_KEY_LABEL": "plain",
            "SOHOA_SIGN_PKCS11_PIN": PIN,
        },
    }
    server = new_server(work / "minio")
    server.start()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_SIGN_")}
        base.update(server.env())
        names = list(variants)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                tag = f"r{r}-{names.index(name)}"
                wall, used = _e2e_run(files, {**base, **variants[name]}, work, tag)
                seconds[name].append(wall)
                cpu[name].append(used)
                print(
                    f"  e2e {name} round {r + 1}: {wall:.1f} s, CPU {used:.1f} s", file=sys.stderr
                )
    finally:
        server.stop()
    pages = args.e2e_pages
    off = pages * 60 / statistics.median(seconds["off"])
    off_cpu = statistics.median(cpu["off"])
    rows = []
    for name, runs in seconds.items():
        per_min = pages * 60 / statistics.median(runs)
        ratio = per_min / off
        verdict = "" if name == "off" else ("yes" if ratio >= TARGET_E2E_RATIO else "NO")
        spread = " ".join(f"{s:.1f}" for s in runs)
        used = statistics.median(cpu[name])
        rows.append(
            [
                name,
                len(runs),
                spread,
                f"{per_min:.1f}",
                f"{ratio:.3f}",
                verdict,
                f"{used:.1f}",
                f"{off_cpu / used:.3f}",
            ]
        )
    what = (
        f"{pages} pages at 300 dpi in {len(files)} files of {args.e2e_doc_pages}, one "
        f"`sohoa process` per run (start-up included), {args.rounds} round(s)"
    )
    return rows, what


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=60, help="signatures per row")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--procs", type=int, default=1, help="also run N processes in parallel")
    parser.add_argument("--e2e-pages", type=int, default=12, help="end-to-end pages (0: skip)")
    parser.add_argument("--e2e-doc-pages", type=int, default=3, help="pages per file end to end")
    parser.add_argument("--rounds", type=int, default=2, help="end-to-end runs per variant")
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
    from pipeline.sign.extend import extend_pdf
    from tests.support.archived import make_archived_pdf
    from tests.support.pki import PASSPHRASE, PIN, SOFTHSM_MODULE

    src = make_archived_pdf(work / "doc.pdf", pages=args.pages)
    extend_docs = max(5, args.docs // 4)
    size_mb = src.stat().st_size / 1e6
    load_before = os.getloadavg()
    rows: list[list[object]] = []
    trust = Path(pki["trust"])
    envs = {
        "pkcs12": {"SOHOA_SIGN_PASSPHRASE": PASSPHRASE},
        "pkcs11": {"SOHOA_SIGN_PKCS11_PIN": PIN},
    }

    def config(store: str, label: str, tsa: bool, **extra: object) -> dict:
        base: dict = {"trust": trust, "tsa_url": f"{pki['url']}/tsa" if tsa else None, **extra}
        if store == "pkcs12":
            return {**base, "pkcs12": Path(pki["p12"][label])}
        return {**base, "pkcs11_module": str(SOFTHSM_MODULE), "token": "bench", "key_label": label}

    signed: dict[tuple[str, str], Path] = {}
    try:
        # every level with the agency certificate (it names OCSP and CRL), stopped where asked
        levels = [
            ("B-B", False, {}),
            ("B-T", True, {"revocation": False}),
            ("B-LT", True, {"archive_timestamp": False}),
            ("B-LTA", True, {}),
        ]
        for store in ("pkcs12", "pkcs11"):
            for level, tsa, extra in levels:
                cfg = SignConfig(**config(store, "agency", tsa, **extra))
                with open_signer(cfg, envs[store]) as signer:
                    dst = work / f"{store}-{level}.pdf"
                    for _ in range(3):  # warm-up: imports, font cut, TSA connection
                        rec = sign_pdf(signer, src, dst)
                    assert rec.level == level, (rec.level, level)
                    times = _timed(lambda s=signer, d=dst: sign_pdf(s, src, d), args.docs)
                rows.append(_row(store, level, times))
                signed[(store, level)] = dst
                print(f"  {store} {level}: done", file=sys.stderr)
        ours.send("rotate")  # the TSA now signs with a certificate that outlives the old one
        ours.recv()
        extended: dict[str, Path] = {}
        for store in ("pkcs12", "pkcs11"):
            ext_cfg = SignConfig(**config(store, "agency", True))
            lta = signed[(store, "B-LTA")]
            out = work / f"{store}-extended.pdf"
            times = _timed(lambda c=ext_cfg, s=lta, o=out: extend_pdf(s, o, c), extend_docs)
            assert verify_pdf(out, trust=trust).valid
            extended[store] = out
            rows.append(_row(store, "extend B-LTA", times))
        for name in ("B-B", "B-T", "B-LT", "B-LTA"):
            path = signed[("pkcs12", name)]
            assert verify_pdf(path, trust=trust).valid
            times = _timed(lambda p=path: verify_pdf(p, trust=trust), max(10, args.docs // 2))
            rows.append(_row("-", "verify " + name, times))
        verdicts = _dss_verdicts(trust, signed, extended)
        for row in rows:
            found = verdicts.get((row[0], row[1]))
            row += list(found) if found else ["", ""]
        if args.procs > 1:
            for store in ("pkcs12", "pkcs11"):
                kwargs = config(store, "agency", True, revocation=False)
                jobs = [
                    (store, kwargs, envs[store], str(src), str(work), args.docs)
                    for _ in range(args.procs)
                ]
                # spawn, not fork: a PKCS#11 module initialised in the parent must not be inherited
                with ProcessPoolExecutor(args.procs, mp_context=spawn) as pool:
                    results = list(pool.map(_worker, jobs))
                wall = max(r[2] for r in results) - min(r[1] for r in results)
                times = [t for r in results for t in r[0]]
                rows.append([*_row(store, "B-T", times, procs=args.procs, wall=wall), "", ""])
        e2e = _e2e_rows(args, pki, work) if args.e2e_pages > 0 else None
    finally:
        ours.send("stop")  # anything but "rotate" ends the PKI's process
        server.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    print(f"\nmachine: {machine()}")
    print(
        f"document: {args.pages} pages, {size_mb:.2f} MB PDF/A-2b; {args.docs} signatures per row; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    print("signer keys: RSA 2048 (agency), TSA and CA: ECDSA P-256, all services on 127.0.0.1\n")
    headers = ["key store", "level", "procs", "docs", "ms p50", "ms p95", "per min"]
    headers += [f">= {TARGET_PER_MIN}", "DSS level", "DSS indication"]
    print(table(headers, rows))
    if e2e is not None:
        e2e_rows, what = e2e
        print(f"\nend to end, signing on vs off: {what}\n")
        e2e_headers = ["signing", "runs", "seconds", "pages/min (median)", "vs off"]
        e2e_headers += [f">= {TARGET_E2E_RATIO}", "CPU s (median)", "CPU: off / this"]
        print(table(e2e_headers, e2e_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
