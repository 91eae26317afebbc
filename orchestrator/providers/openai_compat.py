"""An OpenAI-compatible chat-completions provider over httpx, for any base URL (OpenAI, vLLM, Ollama, LiteLLM...).

It sends tool schemas and structured-output requests and parses the model's tool calls, over Chat Completions
(default: what every compatible server implements) or the Responses API (`api="responses"`); see `wire.py`.

It never retries (the orchestrator is the one retry layer) and classifies failures like the breaker does:
timeouts, connection errors, 429 and 5xx are retryable (with `Retry-After`), other 4xx are not.
httpx is imported when the provider is created, so the light install does not need it unless this is used.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, NoReturn

from ..errors import GraphConfigError, ProviderError, ProviderTimeout
from .base import ModelRequest, ModelResponse, Provider
from .wire import WIRES, Api, ChatStream, sse_data

BASE_URL_ENV = "OPENAI_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"
MODEL_ENV = "TRACEHOUSE_DEFAULT_MODEL"


class OpenAICompatibleProvider(Provider):
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
        import httpx

        if api not in WIRES:
            raise GraphConfigError(f"api must be one of {', '.join(sorted(WIRES))}, got {api!r}")
        self._wire = WIRES[api]

        self.name = name
        self.default_model = default_model
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or "https://api.openai.com/v1").rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = timeout_s
        self._httpx = httpx
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._async_transport = async_transport
        self._aclient: Any = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None

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

    def _streams(self, request: ModelRequest) -> bool:
        return request.on_token is not None and self._wire is WIRES["chat"]

    def _stream_body(self, request: ModelRequest) -> dict[str, Any]:
        return {**self._wire.body(request), "stream": True, "stream_options": {"include_usage": True}}

    def complete(self, request: ModelRequest) -> ModelResponse:
        if self._streams(request):
            return self._complete_streamed(request)
        try:
            resp = self._client.post(
                f"{self.base_url}{self._wire.path}",
                json=self._wire.body(request),
                headers=self._headers,
                timeout=request.timeout_s or self._timeout,
            )
        except self._httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name}/{request.model}: {exc}") from exc
        except self._httpx.TransportError as exc:
            raise ProviderError(f"{self.name}: {exc}", retryable=True, error_type="connection_error") from exc
        return self._parse(request, resp)

    def _complete_streamed(self, request: ModelRequest) -> ModelResponse:
        acc = ChatStream()
        try:
            with self._client.stream(
                "POST",
                f"{self.base_url}{self._wire.path}",
                json=self._stream_body(request),
                headers=self._headers,
                timeout=request.timeout_s or self._timeout,
            ) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for(request, resp)
                for line in resp.iter_lines():
                    self._take(request, acc, line)
        except self._httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name}/{request.model}: {exc}") from exc
        except self._httpx.TransportError as exc:
            raise ProviderError(f"{self.name}: {exc}", retryable=True, error_type="connection_error") from exc
        return acc.result(request)

    async def _acomplete_streamed(self, request: ModelRequest) -> ModelResponse:
        acc = ChatStream()
        try:
            async with self._async_client().stream(
                "POST",
                f"{self.base_url}{self._wire.path}",
                json=self._stream_body(request),
                headers=self._headers,
                timeout=request.timeout_s or self._timeout,
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    self._raise_for(request, resp)
                async for line in resp.aiter_lines():
                    self._take(request, acc, line)
        except self._httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name}/{request.model}: {exc}") from exc
        except self._httpx.TransportError as exc:
            raise ProviderError(f"{self.name}: {exc}", retryable=True, error_type="connection_error") from exc
        return acc.result(request)

    @staticmethod
    def _take(request: ModelRequest, acc: ChatStream, line: str) -> None:
        chunk = sse_data(line)
        if chunk is not None:
            delta = acc.feed(chunk)
            if delta and request.on_token is not None:
                request.on_token(delta)

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:  # a client serves the loop it was made on
            self._aclient = self._httpx.AsyncClient(timeout=self._timeout, transport=self._async_transport)
            self._aclient_loop = loop
        return self._aclient

    async def acomplete(self, request: ModelRequest) -> ModelResponse:
        if self._streams(request):
            return await self._acomplete_streamed(request)
        try:
            resp = await self._async_client().post(
                f"{self.base_url}{self._wire.path}",
                json=self._wire.body(request),
                headers=self._headers,
                timeout=request.timeout_s or self._timeout,
            )
        except self._httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name}/{request.model}: {exc}") from exc
        except self._httpx.TransportError as exc:
            raise ProviderError(f"{self.name}: {exc}", retryable=True, error_type="connection_error") from exc
        return self._parse(request, resp)

    def _parse(self, request: ModelRequest, resp: Any) -> ModelResponse:
        if resp.status_code >= 400:
            self._raise_for(request, resp)
        return self._wire.parse(resp.json(), request)

    def _raise_for(self, request: ModelRequest, resp: Any) -> NoReturn:
        raise ProviderError(
            f"{self.name}/{request.model}: HTTP {resp.status_code}: {resp.text[:300]}",
            retryable=resp.status_code == 429 or resp.status_code >= 500,
            status=resp.status_code,
            retry_after_s=_seconds(resp.headers.get("retry-after")),
        )

    def close(self) -> None:
        self._client.close()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
