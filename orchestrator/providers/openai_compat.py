"""An OpenAI-compatible chat-completions provider over httpx, for any base URL (OpenAI, vLLM, Ollama, LiteLLM...).

It sends tool schemas and structured-output requests and parses the model's tool calls, over Chat Completions
(default: what every compatible server implements) or the Responses API (`api="responses"`); see `wire.py`.
The HTTP side (no retries, failure classification, streaming) is `http.HTTPProvider`.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import GraphConfigError
from .http import HTTPProvider
from .wire import WIRES, Api

BASE_URL_ENV = "OPENAI_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"
MODEL_ENV = "TRACEHOUSE_DEFAULT_MODEL"


class OpenAICompatibleProvider(HTTPProvider):
    """`POST {base_url}/chat/completions` (or `/responses` with `api="responses"`) with a bearer key (`api_key` or
    $OPENAI_API_KEY); `base_url` defaults to $OPENAI_BASE_URL, then OpenAI's."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        name: str = "openai",
        timeout_s: float = 60.0,
        headers: dict[str, str] | None = None,
        transport: Any = None,
        async_transport: Any = None,
        default_model: str | None = None,
        api: Api = "chat",
    ) -> None:
        if api not in ("chat", "responses"):
            raise GraphConfigError(f"api must be chat or responses, got {api!r}")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        super().__init__(
            base_url or os.environ.get(BASE_URL_ENV) or "https://api.openai.com/v1",
            WIRES[api],
            {**(headers or {}), **auth},
            name=name,
            timeout_s=timeout_s,
            transport=transport,
            async_transport=async_transport,
            default_model=default_model,
        )

    @classmethod
    def from_env(cls) -> OpenAICompatibleProvider:
        """The provider the environment describes ($OPENAI_BASE_URL, $OPENAI_API_KEY, $TRACEHOUSE_DEFAULT_MODEL);
        with neither a base URL nor a key set, a one-line error rather than a silent stand-in."""
        if not os.environ.get(BASE_URL_ENV) and not os.environ.get(API_KEY_ENV):
            raise GraphConfigError(
                f"no model provider: pass provider=OpenAICompatibleProvider(base_url, api_key) (or FakeProvider() in "
                f"tests), or set ${BASE_URL_ENV} and/or ${API_KEY_ENV}"
            )
        return cls(default_model=os.environ.get(MODEL_ENV) or None)
