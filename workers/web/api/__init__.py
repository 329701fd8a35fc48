"""``/api/v1``: sohoa for systems (the one-stop software, the provincial LGSP), not people.

Bearer tokens per client with scopes, every call audited under ``client:<name>``, a rate
per client, uploads into custody, the dossier in the national portal's shape, the event
feed; described by ``/api/v1/openapi.json`` (:mod:`workers.web.api.openapi`).
"""

from workers.web.api.app import create_api
from workers.web.api.links import API_PREFIX, document_links

__all__ = ["API_PREFIX", "create_api", "document_links"]
