"""bench/docblock.py: bench/scaling.py's section of docs/PERFORMANCE.md survives bench/run.py
regenerating the file, and is replaced in place by the next scaling run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import docblock  # noqa: E402


def block(text: str) -> str:
    return f"{docblock.BEGIN}\n{text}\n{docblock.END}"


def test_a_regenerated_file_keeps_the_scaling_section():
    old = "# perf\nold tables\n\n" + block("scaling v1") + "\n"
    new = docblock.with_block("# perf\nnew tables\n", docblock.block_of(old))
    assert new == "# perf\nnew tables\n\n" + block("scaling v1") + "\n"


def test_a_scaling_run_replaces_its_section_in_place():
    text = "# perf\n\n" + block("scaling v1") + "\n\n## Method\n"
    assert docblock.with_block(text, block("v2")) == "# perf\n\n" + block("v2") + "\n\n## Method\n"


def test_no_section_anywhere_leaves_the_file_alone():
    assert docblock.block_of("# perf\n") is None
    assert docblock.with_block("# perf\n", None) == "# perf\n"
