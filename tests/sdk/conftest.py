"""Fixtures for the SDK tests: a real TracerProvider with OpenTelemetry's in-memory exporter behind `init`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.sdk.sdk_testing import Recorder, make_recorder
from tracehouse import sdk

_ENV_PREFIXES = ("TRACEHOUSE_", "OTEL_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without tracehouse/OTel settings from the developer's shell, and un-initialised."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key)
    sdk.shutdown()
    yield
    sdk.shutdown()


@pytest.fixture
def traced() -> Recorder:
    """tracehouse initialised on a fresh provider, content capture off (the default)."""
    return make_recorder()


@pytest.fixture
def traced_content() -> Recorder:
    """tracehouse initialised with content capture on, 200 characters per text."""
    return make_recorder(capture_content=True, content_max_chars=200)
