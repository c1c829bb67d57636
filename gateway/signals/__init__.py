"""Realtime signal validation: pure numpy/scipy, no asyncio, no I/O (import-linter enforces it)."""
