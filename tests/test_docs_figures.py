"""The README's measured tables are generated, and stay what the committed tables say: its verdict and
headline tables are exactly `bench report results/reference.csv --headline --with
results/paq8px-test.csv`, line for line."""

from pathlib import Path

from bench.report.markdown import headline_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_tables_are_the_headline_of_the_committed_reference():
    generated = [line for line in headline_markdown(ROOT / "results/reference.csv",
                                                    extra_tables=[ROOT / "results/paq8px-test.csv"]).splitlines()
                 if line.startswith("|")]
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    assert len(generated) > 40
    missing = [line for line in generated if line not in readme]
    assert not missing, f"README lines that the committed tables no longer give: {missing[:3]}"
    # In the same order: the README is the generated text, not a reshuffle of it.
    positions = [readme.index(line) for line in generated]
    assert positions == sorted(positions)
