"""An Anthropic-compatible provider (the Messages API) for any base URL: Anthropic's, or a gateway that speaks it.

Tools and tool results travel as content blocks; structured output is asked for in the system text (the API has no
switch for it) and validated by the orchestrator like any other answer. Not streamed. The HTTP side is
`http.HTTPProvider`.
"""

from __future__ import annotations

import os
from typing import Any

from .http import HTTPProvider
from .wire import WIRES

BASE_URL_ENV = "ANTHROPIC_BASE_URL"
API_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"


class AnthropicCompatibleProvider(HTTPProvider):
    """`POST {base_url}/messages` with `x-api-key` (`api_key` or $ANTHROPIC_API_KEY); `base_url` defaults to
    $ANTHROPIC_BASE_URL, then Anthropic's."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        name: str = "anthropic",
        timeout_s: float = 60.0,
        headers: dict[str, str] | None = None,
        transport: Any = None,
        async_transport: Any = None,
        default_model: str | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        auth = {"x-api-key": key} if key else {}
        super().__init__(
            base_url or os.environ.get(BASE_URL_ENV) or "https://api.anthropic.com/v1",
            WIRES["anthropic"],
            {"anthropic-version": API_VERSION, **(headers or {}), **auth},
            name=name,
            timeout_s=timeout_s,
            transport=transport,
            async_transport=async_transport,
            default_model=default_model,
        )
