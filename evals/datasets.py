"""Datasets of inputs and expected outputs (JSONL or CSV), and matching a stored trace to its dataset row.

A row has an id (`id`, else its line number), an input, an optional expected answer and any other columns as
metadata. JSONL values may be any JSON; CSV cells are strings (a cell that parses as JSON object/array is decoded).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracehouse.errors import BadInput


class DatasetError(BadInput, ValueError):
    """A dataset file that cannot be read; the message names the file and the line."""


@dataclass
class Case:
    id: str
    input: Any
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, "expected": self.expected, **self.metadata}


@dataclass
class Dataset:
    name: str
    cases: list[Case]

    def __len__(self) -> int:
        return len(self.cases)

    def by_id(self) -> dict[str, Case]:
        return {c.id: c for c in self.cases}


def _maybe_json(cell: str) -> Any:
    text = cell.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return cell
    return cell


def load_dataset(
    path: str | Path, *, input_field: str = "input", expected_field: str = "expected", id_field: str = "id"
) -> Dataset:
    """A dataset from `.jsonl` / `.json` (a list) / `.csv`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    rows: list[tuple[int, dict[str, Any]]] = []
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path.name}: line {n}: not JSON ({exc})") from None
            rows.append((n, row))
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise DatasetError(f"{path.name}: must be a JSON list of rows")
        rows = list(enumerate(data, start=1))
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [
                (n, {k: _maybe_json(v or "") for k, v in row.items()})
                for n, row in enumerate(csv.DictReader(fh), start=2)
            ]
    else:
        raise DatasetError(f"{path.name}: unknown dataset format (use .jsonl, .json or .csv)")
    cases = []
    seen: set[str] = set()
    for n, row in rows:
        if not isinstance(row, dict):
            raise DatasetError(f"{path.name}: line {n}: a row must be an object")
        if input_field not in row:
            raise DatasetError(f"{path.name}: line {n}: no {input_field!r} field")
        case_id = str(row.get(id_field, n))
        if case_id in seen:
            raise DatasetError(f"{path.name}: line {n}: duplicate id {case_id!r}")
        seen.add(case_id)
        meta = {k: v for k, v in row.items() if k not in (input_field, expected_field, id_field)}
        cases.append(Case(id=case_id, input=row[input_field], expected=row.get(expected_field), metadata=meta))
    return Dataset(name=path.stem, cases=cases)


def normalise_text(value: Any) -> str:
    """Text for matching: JSON-encoded non-strings, lower case, runs of whitespace collapsed."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return re.sub(r"\s+", " ", text).strip().lower()


class CaseMatcher:
    """Finds a dataset row for a trace: by case id, else by the trace's input equal to or containing the row's."""

    def __init__(self, dataset: Dataset) -> None:
        self._by_id = dataset.by_id()
        self._by_text = {normalise_text(c.input): c for c in self._by_id.values()}
        self._longest_first = sorted(self._by_text.items(), key=lambda kv: -len(kv[0]))

    def by_id(self, case_id: str) -> Case | None:
        return self._by_id.get(case_id)

    def by_input(self, trace_input: str | None) -> Case | None:
        if not trace_input:
            return None
        text = normalise_text(trace_input)
        exact = self._by_text.get(text)
        if exact is not None:
            return exact
        for key, case in self._longest_first:
            if key and key in text:
                return case
        return None
