"""Dossier-code readers compared on generated and real pages (issue 13)."""
