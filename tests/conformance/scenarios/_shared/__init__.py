"""Code shared by several scenarios: apps (run in a scenario's venv) and fake-model policies (run by the harness)."""
