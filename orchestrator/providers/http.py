"""The HTTP side every hosted-model provider shares, over httpx: one POST per call (or a stream), a client per
event loop for the async path, and failures classified like the breaker does — timeouts, connection errors, 429 and
5xx are retryable (with `Retry-After`), other 4xx are not. It never retries: the orchestrator is the one retry layer.
What is sent and how the answer reads is the provider's `Wire` (`wire.py`). httpx is imported when a provider is
created, so the light install does not need it unless one is used.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from ..errors import ProviderError, ProviderTimeout
from .base import ModelRequest, ModelResponse, Provider
from .wire import Stream, Wire, sse_data


class HTTPProvider(Provider):
    """`POST {base_url}{wire.path}` with `headers`; see the subclasses for the endpoints and keys they know."""

    def __init__(
        self,
        base_url: str,
        wire: Wire,
        headers: dict[str, str],
        *,
        name: str,
        timeout_s: float,
        transport: Any,
        async_transport: Any,
        default_model: str | None,
    ) -> None:
        import httpx

        self.name = name
        self.default_model = default_model
        self.base_url = base_url.rstrip("/")
        self._wire = wire
        self._headers = {"Content-Type": "application/json", **headers}
        self._timeout = timeout_s
        self._httpx = httpx
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._async_transport = async_transport
        self._aclient: Any = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None

    def _streams(self, request: ModelRequest) -> bool:
        return request.on_token is not None and self._wire.stream is not None

    def _stream_body(self, request: ModelRequest) -> dict[str, Any]:
        return {**self._wire.body(request), **(self._wire.stream_fields or {})}

    def _new_stream(self) -> Stream:
        assert self._wire.stream is not None
        return self._wire.stream()

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
        acc = self._new_stream()
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
        acc = self._new_stream()
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
    def _take(request: ModelRequest, acc: Stream, line: str) -> None:
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
