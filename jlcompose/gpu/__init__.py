"""GPU practice: doctor checks, utilization sampling, the dmon parser and the benchmark."""

from __future__ import annotations
