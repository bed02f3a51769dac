"""Deterministic orchestration only: timers, signals, queries, activities. No I/O, no clock."""
