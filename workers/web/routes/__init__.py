"""The app's pages, one small module each; every module has ``routes(ctx) -> list[Route]``.

A new module goes into :data:`MODULES`. Build its routes with
:func:`workers.web.context.page`, naming the least role each needs: the login gate
already keeps strangers out of every path, and ``page`` adds the role check.
"""

from __future__ import annotations

from workers.web.routes import admin, dossier, events, files, operator, pages, search

MODULES = (search, dossier, pages, files, operator, events, admin)

__all__ = ["MODULES"]
