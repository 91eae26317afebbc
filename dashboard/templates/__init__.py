"""Package data: shipped with the wheel so the dashboard works offline (not code)."""
