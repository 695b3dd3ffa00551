"""benchmarks: a partial rerun (--only) keeps the other sections of the results file."""

from __future__ import annotations

from benchmarks.__main__ import merge_sections


def test_merge_sections_replaces_only_the_rerun_ones():
    text = "# Benchmarks\n\nMachine: x\n\n## a\n\n| a1 |\n\n## b\n\n| b1 |\n\n## c\n\n| c1 |\n"
    out = merge_sections(text, {"b": "## b\n\n| b2 |\n", "d": "## d\n\n| d1 |\n"})
    assert out == "# Benchmarks\n\nMachine: x\n\n## a\n\n| a1 |\n\n## b\n\n| b2 |\n\n## c\n\n| c1 |\n\n## d\n\n| d1 |\n"
    last = merge_sections(text, {"c": "## c\n\n| c2 |\n"})
    assert last.endswith("## b\n\n| b1 |\n\n## c\n\n| c2 |\n")
