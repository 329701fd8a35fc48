"""Labelled document fields for issue 13: real labels (JSON) and a generated set."""
