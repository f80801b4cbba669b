"""Shared set-up for the benchmarks: the tests' small province (``tests/schema.py``)."""

from __future__ import annotations

from tests.schema import commune_code, flat_province

__all__ = ["commune_code", "flat_province"]
