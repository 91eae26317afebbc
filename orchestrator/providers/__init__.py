"""Model providers: the interface, a scripted fake, and an OpenAI-compatible HTTP client."""

from .base import ModelRequest, ModelResponse, Provider, ToolCall
from .fake import FakeProvider, Scripted, fail
from .openai_compat import OpenAICompatibleProvider

__all__ = [
    "FakeProvider",
    "ModelRequest",
    "ModelResponse",
    "OpenAICompatibleProvider",
    "Provider",
    "Scripted",
    "ToolCall",
    "fail",
]
