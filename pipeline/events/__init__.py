"""Events a one-stop system cares about, and their delivery (issue 21, DESIGN §10).

The ledger writes each event to its outbox in the same transaction as the change that
causes it (:mod:`pipeline.storage.ledger.outbox`); this package gives the events their
JSON shape (:mod:`.payload`), serves them as a feed (:mod:`.feed`), signs them
(:mod:`.signing`) and delivers them to the configured webhooks (:mod:`.dispatch`).
"""
