"""Every snippet of the orchestrator guide (orchestrator/README.md) runs, in order, against a fake OpenAI-compatible
server answering what the `<!-- replies: [...] -->` comment above the snippet says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.fake_openai import FakeOpenAI, Reply

GUIDE = Path(__file__).parents[2] / "orchestrator" / "README.md"
BLOCK = re.compile(r"<!-- replies: (?P<replies>.*?) -->\n```python\n(?P<code>.*?)```", re.S)


def _replies(raw: str) -> list[Reply | str]:
    out: list[Reply | str] = []
    for item in json.loads(raw):
        if isinstance(item, str):
            out.append(item)
        else:
            out.append(Reply(tool_calls=[(name, args) for name, args in item["tool_calls"]]))
    return out or ["(no model call expected)"]


def test_every_guide_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = list(BLOCK.finditer(GUIDE.read_text()))
    assert len(blocks) >= 7 and GUIDE.read_text().count("```python") == len(blocks)  # none left untested
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "guide"}
    with FakeOpenAI() as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        for i, block in enumerate(blocks, 1):
            llm.script(_replies(block["replies"]))
            exec(compile(block["code"], f"{GUIDE.name} snippet {i}", "exec"), namespace)
