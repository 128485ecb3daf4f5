"""Pure: benchmark results side by side, with ratios between columns and within each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# (label, faster variant, baseline candidates in order): speedups within one framework
SPEEDUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("pinned vs pageable copy to GPU", "h2d_pinned", ("h2d_pageable",)),
    ("pinned vs pageable copy from GPU", "d2h_pinned", ("d2h_pageable",)),
    ("TF32 vs fp32 matmul", "matmul_tf32", ("matmul_fp32",)),
    ("fp16 AMP vs fp32 matmul", "matmul_fp16_amp", ("matmul_fp32",)),
    ("bf16 AMP vs fp32 matmul", "matmul_bf16_amp", ("matmul_fp32",)),
    ("AMP vs fp32 LSTM step", "lstm_amp", ("lstm_fp32",)),
    ("cuDNN autotune on vs off", "conv_autotune_on", ("conv_autotune_off",)),
    (
        "AMP + channels-last vs fp32 conv",
        "conv_amp_channels_last",
        ("conv_autotune_on", "conv_autotune_off"),
    ),
)
Column = tuple[str, Mapping[str, Any]]  # (label, one framework's entry of a bench result)


def columns(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Column]:
    """One column per framework that measured something, labelled by where it ran.

    runs: (where, result of bench.run()) with where = a service name or "" for locally.
    """
    out: list[Column] = []
    for where, result in runs:
        for fw in result.get("frameworks", []):
            if not fw.get("rows"):
                continue
            name = str(fw.get("framework", "?"))
            label = name if where in ("", name) else f"{where}:{name}"
            out.append((label, fw))
    return out


def not_run(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """One sentence per framework that measured nothing, saying why."""
    out = []
    for where, result in runs:
        prefix = f"{where} lab: " if where else ""
        for fw in result.get("frameworks", []):
            if not fw.get("rows"):
                out.append(f"{prefix}{fw.get('framework')}: {fw.get('skipped', 'no rows')}")
        out.extend(f"{prefix}{why}" for why in (result.get("missing") or {}).values())
    return out


def _values(fw: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(r["name"]): r for r in fw.get("rows", [])}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def ratio(a: float | None, b: float | None) -> str:
    """b relative to a, as "1.55x"; "-" when either is missing."""
    if a is None or b is None or a <= 0:
        return "-"
    return f"{b / a:.2f}x"


def side_by_side(cols: Sequence[Column]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: test, unit, each column's value, then each column / the first."""
    tables = [_values(fw) for _label, fw in cols]
    names: list[str] = []
    units: dict[str, str] = {}
    for table in tables:
        for name, row in table.items():
            if name not in units:
                names.append(name)
                units[name] = str(row.get("unit", ""))
    header = ["test", "unit", *(label for label, _fw in cols)]
    header += [f"{label} / {cols[0][0]}" for label, _fw in cols[1:]]
    rows = []
    for name in names:
        values = [t[name].get("value") if name in t else None for t in tables]
        cells = [name, units[name]]
        for t, v in zip(tables, values, strict=True):
            skipped = name in t and t[name].get("skipped")
            cells.append("skipped" if skipped else number(v))
        cells += [ratio(values[0], v) for v in values[1:]]
        rows.append(cells)
    return header, rows


def speedups(fw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, "1.55x") for each tuned variant measured alongside its baseline."""
    values = {k: r.get("value") for k, r in _values(fw).items()}
    out = []
    for label, fast, bases in SPEEDUPS:
        base = next((b for b in bases if values.get(b) is not None), None)
        if base is not None and values.get(fast) is not None:
            out.append((label, ratio(values[base], values[fast])))
    return out


def skipped_reasons(cols: Sequence[Column]) -> list[str]:
    out = []
    for label, fw in cols:
        for row in fw.get("rows", []):
            if row.get("skipped"):
                out.append(f"{label} {row['name']}: {row['skipped']}")
    return out
