"""Model prices and the cost of one model call, shared by the SDK (cost at the call site) and the collector.

Cached and cache-written tokens are *included in* the input tokens (OpenTelemetry GenAI conventions), so they are
priced instead of, never on top of, the plain input price. An unknown model has no price: its cost is None, not 0.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

PRICES_ENV = "TRACEHOUSE_PRICES"
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


def undated(model: str) -> str:
    """`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`: the model a dated snapshot name belongs to."""
    return _DATE_SUFFIX.sub("", model)


class PriceTableError(ValueError):
    """A price file that cannot be read or has a malformed entry."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens for one model, with where the figure came from."""

    model: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    source: str = ""
    date: str = ""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Model name -> price; `lookup` also finds a dated response model (`gpt-4o-mini-2024-07-18`)."""

    prices: dict[str, ModelPrice]

    def lookup(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        name = model.lower()
        found = self.prices.get(name)
        if found is None:
            stripped = undated(name)
            found = self.prices.get(stripped)
            if found is None and "/" in stripped:  # "openai/gpt-4o" as routers spell it
                found = self.prices.get(stripped.rsplit("/", 1)[1])
        return found

    def cost(
        self,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        fallback_model: str | None = None,
    ) -> float | None:
        """USD for one call, or None when the model is unpriced or no usage was reported."""
        price = self.lookup(model) or self.lookup(fallback_model)
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        cached = cache_read_tokens or 0
        written = cache_write_tokens or 0
        plain_input = max((input_tokens or 0) - cached - written, 0)
        usd = plain_input * price.input + (output_tokens or 0) * price.output
        usd += cached * (price.cache_read if price.cache_read is not None else price.input)
        usd += written * (price.cache_write if price.cache_write is not None else price.input)
        return usd / 1_000_000


def _parse(text: str, origin: str) -> dict[str, ModelPrice]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{origin}: not valid TOML: {exc}") from None
    out: dict[str, ModelPrice] = {}
    for model, entry in (data.get("models") or {}).items():
        try:
            out[model.lower()] = ModelPrice(
                model=model,
                input=float(entry["input"]),
                output=float(entry["output"]),
                cache_read=float(entry["cache_read"]) if "cache_read" in entry else None,
                cache_write=float(entry["cache_write"]) if "cache_write" in entry else None,
                source=str(entry.get("source", "")),
                date=str(entry.get("date", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PriceTableError(f"{origin}: model {model!r} needs numeric 'input' and 'output' ({exc})") from None
    return out


def load_prices(override: str | Path | None = None) -> PriceTable:
    """The shipped table, updated by `override` (or $TRACEHOUSE_PRICES) when given."""
    shipped = resources.files("tracehouse.sdk").joinpath("prices.toml").read_text(encoding="utf-8")
    prices = _parse(shipped, "prices.toml")
    path = override or os.environ.get(PRICES_ENV)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError(f"cannot read price file {path}: {exc.strerror}") from None
        prices.update(_parse(text, str(path)))
    return PriceTable(prices)


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    """The process-wide table (shipped + $TRACEHOUSE_PRICES), loaded once."""
    return load_prices()
