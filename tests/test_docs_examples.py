"""The worked examples of docs/architecture.md run as written (in order, in one namespace)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_architecture_examples_run():
    from semcom.bench.reproduce import FIGURES
    from semcom.registry import CHANNELS, CODECS, RECEIVERS, SOURCES

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
        assert {"doc-erasure", "doc-pooled", "doc-sharpen", "doc-noise"} <= (
            set(CHANNELS) | set(CODECS) | set(RECEIVERS) | set(SOURCES))
    finally:  # the examples' components stay out of the other tests' registries
        for reg, name in ((CHANNELS, "doc-erasure"), (CODECS, "doc-pooled"), (RECEIVERS, "doc-sharpen"),
                          (SOURCES, "doc-noise"), (FIGURES, "doc-figure")):
            reg.unregister(name)
