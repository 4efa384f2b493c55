"""docs/compliance.md's controls table is generated from the registry, and stays fresh."""

from __future__ import annotations

from pathlib import Path

from strongbox.compliance import render
from strongbox.compliance.controls import registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "compliance.md"


def test_the_controls_table_in_the_docs_is_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8")
    expected = render.controls_table(registry())
    assert render.replace_table(text, expected) == text, (
        "docs/compliance.md is stale: run 'strongbox compliance controls --write "
        "docs/compliance.md'"
    )


def test_a_stale_table_is_detected() -> None:
    text = DOC.read_text(encoding="utf-8")
    stale = text.replace("| 12.10.1 |", "| 12.10.2 |")
    assert render.replace_table(stale, render.controls_table(registry())) != stale


def test_the_registry_has_the_required_controls_in_order() -> None:
    ids = [c.id for c in registry()]
    for required in (
        "3.3.1", "3.4.1", "3.5.1", "3.6.1", "3.7.4", "4.2.1", "6.3.3", "6.4.1", "8.2.8",
        "8.3.4", "8.3.6", "8.4.2", "8.6.3", "10.2.1", "10.3.2", "10.3.3", "10.5.1",
        "11.3.1", "12.10.1",
    ):  # fmt: skip
        assert required in ids
    assert ids == sorted(ids, key=lambda i: [int(p) for p in i.split(".")])
