"""Forms as data: YAML questionnaires read by one small engine (see engine.py)."""
