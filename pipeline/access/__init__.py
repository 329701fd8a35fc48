"""Who may do what: people's accounts, web sessions and the audit chain (DESIGN §8).

The tables live in the ledger's database (the SQLite file, or the office's
PostgreSQL), behind one small seam (``db.py``); the audit chain's head is also
anchored in Object-Locked objects of the archive bucket (``anchors.py``).
"""
