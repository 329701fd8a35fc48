"""Step ``fields``: the document's own fields (number, notation, issue date) from its text."""

from __future__ import annotations

from pipeline.extract.fields import read_fields
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage


@stage("fields")
def extract(run: DocumentRun) -> None:
    run.fields = read_fields(run.results[0].text)
