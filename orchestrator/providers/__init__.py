"""Model providers: the interface, a scripted fake, and OpenAI- and Anthropic-compatible HTTP clients."""

from .anthropic_compat import AnthropicCompatibleProvider
from .base import ModelRequest, ModelResponse, Provider, ToolCall
from .fake import FakeProvider, Scripted, fail
from .openai_compat import OpenAICompatibleProvider

__all__ = [
    "AnthropicCompatibleProvider",
    "FakeProvider",
    "ModelRequest",
    "ModelResponse",
    "OpenAICompatibleProvider",
    "Provider",
    "Scripted",
    "ToolCall",
    "fail",
]
