"""PostgreSQL for an office: the ledger and the search index on one database (psycopg 3).

``db.py`` holds the pooled, restart-proof connection; ``migrations.py`` the
versioned schema runner (an advisory lock makes it safe from many machines);
each backend keeps its own migrations beside its code: ``ledger.py``,
``index.py``, and ``access.py`` (users, sessions, the audit log: the backend the
stores of :mod:`pipeline.access` run on, component ``access`` in ``schema_migrations``).
Nothing outside ``pipeline/storage/`` sees a psycopg type.
"""
