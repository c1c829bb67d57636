"""Clinical rules: blood-pressure plausibility and category, NEWS2, care-plan traffic lights.

Pure functions over values and verdicts; no asyncio, no I/O (import-linter enforces it).
"""
