"""GPU practice: doctor checks, utilisation sampling, the dmon parser and the benchmark."""

from __future__ import annotations
