"""Core-banking event intake: validate, deduplicate by event id, signal-with-start."""
