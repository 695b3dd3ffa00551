"""benchmarks: a partial rerun (--only) keeps the other sections of the results file."""

from __future__ import annotations

from benchmarks.__main__ import merge_sections


def test_merge_sections_replaces_only_the_rerun_ones():
    text = "# Benchmarks\n\nMachine: x\n\n## a\n\n| a1 |\n\n## b\n\n| b1 |\n\n## c\n\n| c1 |\n"
    out = merge_sections(text, {"b": "## b\n\n| b2 |\n", "d": "## d\n\n| d1 |\n"})
    assert out == "# Benchmarks\n\nMachine: x\n\n## a\n\n| a1 |\n\n## b\n\n| b2 |\n\n## c\n\n| c1 |\n\n## d\n\n| d1 |\n"
    last = merge_sections(text, {"c": "## c\n\n| c2 |\n"})
    assert last.endswith("## b\n\n| b1 |\n\n## c\n\n| c2 |\n")


def test_vector_units_name_the_widest_units():
    """The machine line tells CPUs of one model name apart by their vector units."""
    from benchmarks.__main__ import vector_units

    assert vector_units({"sse2", "avx2", "fma"}) == "AVX2"
    assert vector_units({"avx2", "avx512f"}) == "AVX-512"
    assert vector_units({"avx2", "avx512f", "avx512_bf16"}) == "AVX-512 bf16"
    assert vector_units({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}) == "AMX bf16"
    assert vector_units({"sse2"}) == "no AVX2"
