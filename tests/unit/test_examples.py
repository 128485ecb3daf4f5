"""examples/: the notebooks users open. They run for real in the labs
(tests/integration/test_frameworks_engine.py); here, what needs no framework."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from jlcompose.gpu import bench

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "lstm" / "lstm_comparison.ipynb"


def _notebook() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return doc


def test_the_notebook_is_clean_nbformat_4_python() -> None:
    nb = _notebook()
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None  # shipped unexecuted
            ast.parse("".join(cell["source"]))


def test_the_notebook_trains_the_benchmarks_lstm() -> None:
    """The seed's comparison: the same sizes as `jlcompose bench` (and the H200 probe)."""
    first = "".join(next(c for c in _notebook()["cells"] if c["cell_type"] == "code")["source"])
    call = next(
        node.value
        for node in ast.walk(ast.parse(first))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SIZES" for t in node.targets)
    )
    assert isinstance(call, ast.Call)
    sizes = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    layers, inp, hidden, batch, seq = bench.SIZES["full"]["lstm"]
    assert (sizes["layers"], sizes["inp"], sizes["hidden"], sizes["batch"], sizes["seq"]) == (
        layers,
        inp,
        hidden,
        batch,
        seq,
    )
    assert sizes["classes"] == bench.LSTM_CLASSES
