"""Measured tables in the documents are generated, and stay what the committed tables say: the
README's verdict and docs/results.md's family table are exactly `bench report results/reference.csv
--headline --with results/paq8px-test.csv --with results/weightless-cm-all.csv --with results/learned-cm-all.csv`,
line for line; docs/schema.md is the code's column list."""

from pathlib import Path

from bench.report.markdown import headline_markdown

ROOT = Path(__file__).resolve().parent.parent


def _table_lines(text: str) -> list[list[str]]:
    """The markdown tables of a text, each as its lines."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_the_verdict_and_family_tables_are_the_headline_of_the_committed_reference():
    headline = headline_markdown(ROOT / "results/reference.csv", extra_tables=[ROOT / "results/paq8px-test.csv",
                                                                                ROOT / "results/weightless-cm-all.csv",
                                                                                ROOT / "results/learned-cm-all.csv"])
    verdict, families = _table_lines(headline)
    assert verdict[0].startswith("| kind | measure |") and families[0].startswith("| family |")
    assert len(verdict) > 10 and len(families) > 30
    assert verdict in _table_lines((ROOT / "README.md").read_text()), "README's verdict is not the generated one"
    assert families in _table_lines((ROOT / "docs/results.md").read_text()), \
        "docs/results.md's family table is not the generated one"


def test_the_row_schema_page_is_generated_from_the_code():
    from bench.run.results import COLUMNS
    from bench.run.schema import GUARANTEED, schema_markdown

    assert list(GUARANTEED) == COLUMNS  # every guaranteed column described, in order
    assert (ROOT / "docs" / "schema.md").read_text() == schema_markdown(), \
        "docs/schema.md is stale: python -m bench.run.schema > docs/schema.md"
