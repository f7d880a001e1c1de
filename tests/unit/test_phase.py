"""The phase machine's transition table: the code and docs/design.md say the same."""

import re
from pathlib import Path

import envoy_pyext._native as native

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def documented_table() -> dict[str, set[str]]:
    text = DESIGN.read_text()
    section = text[text.index("| from | legal next phases |"):]
    table: dict[str, set[str]] = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        left, right = (cell.strip() for cell in line.strip("|").split("|"))
        for name in re.findall(r"`(\w+)`", left):
            table[name] = set(re.findall(r"`(\w+)`", right))
    return table


def test_design_doc_lists_the_code_transition_table():
    code = {k: set(v) for k, v in native._phase_table().items()}
    assert documented_table() == code


def test_every_phase_can_end():
    # From every phase CLOSED is reachable, and nothing leaves CLOSED: an answered stream
    # never starts passing data again.
    code = native._phase_table()
    assert all("CLOSED" in nxt for nxt in code.values())
    assert code["CLOSED"] == ["CLOSED"]
    assert set(code["DONE"]) == {"DONE", "CLOSED"}
