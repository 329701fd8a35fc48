"""Look at the office from inside a test host: `python -m tests.support.office_probe WHAT ...`.

The multi-host test cannot reach the hosts' addresses from the machine itself
(addresses exist only inside the namespaces), so its checks run on a host, with
that host's environment, and print JSON.
"""

from __future__ import annotations

import json
import sys

from tests.support import office


def main(argv: list[str]) -> None:
    import os

    env = dict(os.environ)
    what = argv[0]
    if what == "states":
        print(json.dumps(office.states(env)))
    elif what == "pages":
        from pipeline.config import load_config
        from pipeline.storage import objects as store

        st = store.connect(load_config(env=env))
        try:
            n = len([k for k in st.list_keys(st.work_bucket) if k.endswith(".json")])
        except Exception:
            n = 0
        print(json.dumps(n))
    elif what == "report":
        code, shas = argv[1], set(argv[2].split(","))
        report = office.archive_report(env, shas, code)
        try:
            office.assert_office_archived_once(env, shas, code)
            report["ok"] = 1
        except AssertionError as exc:
            report["ok"], report["why"] = 0, str(exc)
        print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
