"""Who may do what: people's accounts, web sessions and the audit chain (DESIGN §8).

Everything here lives in the ledger's SQLite file (``cfg.ledger_path``) in its
own tables, behind small interfaces so a PostgreSQL implementation can follow.
"""
