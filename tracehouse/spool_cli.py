"""`tracehouse spool`: inspect, replay and drop the spool records the writer quarantined.

The writer sets a record aside when it failed to encode or insert `writer_max_attempts` times (see
`collector/quarantine.py`). These commands work on the data directory's files, not through a server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.quarantine import Quarantine, QuarantinedRecord, QuarantineError
from tracehouse.collector.spool import Spool, SpoolFull, SpoolLocked
from tracehouse.errors import fail
from tracehouse.output import echo_json, json_option, table
from tracehouse.settings import Settings, SettingsError, load_settings


def _settings(config: str | None, data_dir: Path | None) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir)
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


def _where(fn: Any) -> Any:
    fn = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory.")(fn)
    return click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")(fn)


def _spans(payload: bytes) -> int | None:
    try:
        request = ExportTraceServiceRequest.FromString(payload)
    except DecodeError:
        return None
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _chosen(quarantine: Quarantine, seqs: tuple[int, ...], every: bool) -> list[int]:
    if every == bool(seqs):
        fail("name the records (SEQ ...) or pass --all")
    held = quarantine.seqs()
    missing = [s for s in seqs if s not in held]
    if missing:
        fail(f"no quarantined record {missing[0]} in {quarantine.directory}")
    return held if every else list(seqs)


@click.group("spool")
def spool_group() -> None:
    """Spool records the writer quarantined after failing on them: list, show, replay, drop."""


@spool_group.command("list")
@_where
@json_option
def list_cmd(config: str | None, data_dir: Path | None, as_json: bool) -> None:
    """One line per quarantined record: sequence, project, size, spans, when, why."""
    quarantine = Quarantine(_settings(config, data_dir).spool_dir)
    held = quarantine.all()
    rows = [_summary(q) for q in held]
    if as_json:
        echo_json({"records": rows})
        return
    if not held:
        click.echo(f"no records in quarantine ({quarantine.directory})")
        return
    table(
        None,
        ("SEQ", "PROJECT", "BYTES", "SPANS", "QUARANTINED AT", "WHY"),
        [
            (
                r["seq"],
                r["project"],
                r["bytes"],
                "?" if r["spans"] is None else r["spans"],
                r["quarantined_at"],
                r["why"],
            )
            for r in rows
        ],
    )


def _summary(q: QuarantinedRecord) -> dict[str, Any]:
    reason = q.reason.strip().splitlines()[-1] if q.reason.strip() else "?"
    return {
        "seq": q.record.seq,
        "project": q.record.project_id,
        "bytes": len(q.record.payload),
        "spans": _spans(q.record.payload),
        "quarantined_at": q.quarantined_at,
        "why": reason[:200],
    }


def _as_json(q: QuarantinedRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "seq": q.record.seq,
        "project": q.record.project_id,
        "source": q.record.source,
        "bytes": len(q.record.payload),
        "quarantined_at": q.quarantined_at,
        "reason": q.reason,
    }
    try:
        body["request"] = MessageToDict(ExportTraceServiceRequest.FromString(q.record.payload))
    except DecodeError as exc:
        body["request_error"] = f"not an ExportTraceServiceRequest: {exc}"
        body["payload_head_hex"] = q.record.payload[:256].hex()
    return body


@spool_group.command("show")
@_where
@click.argument("seq", type=int)
def show_cmd(config: str | None, data_dir: Path | None, seq: int) -> None:
    """A quarantined record as JSON: why it was set aside, and the OTLP request it holds."""
    try:
        held = Quarantine(_settings(config, data_dir).spool_dir).get(seq)
    except QuarantineError as exc:
        fail(str(exc), 1)
    click.echo(json.dumps(_as_json(held), indent=2, ensure_ascii=False))


@spool_group.command("replay")
@_where
@click.argument("seqs", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Replay every quarantined record.")
def replay_cmd(config: str | None, data_dir: Path | None, seqs: tuple[int, ...], every: bool) -> None:
    """Append quarantined records back to the spool, OFFLINE: stop the server first (the spool belongs to one
    process). The next `tracehouse serve` writes them like any other record; one that still fails is quarantined
    again (under a new sequence number)."""
    settings = _settings(config, data_dir)
    quarantine = Quarantine(settings.spool_dir)
    chosen = _chosen(quarantine, seqs, every)
    try:
        spool = Spool(
            settings.spool_dir, max_bytes=settings.spool_max_bytes, segment_bytes=settings.spool_segment_bytes
        )
    except SpoolLocked:
        fail(f"the spool in {settings.spool_dir} is in use: stop `tracehouse serve` first (replay works offline)", 1)
    try:
        for seq in chosen:
            record = quarantine.get(seq).record
            new_seq = spool.append(record.project_id, record.payload, record.source)
            quarantine.drop(seq)
            click.echo(f"replayed {seq} as spool record {new_seq}")
    except (SpoolFull, QuarantineError, OSError) as exc:
        fail(f"replay stopped: {exc}", 1)
    finally:
        spool.close()


@spool_group.command("drop")
@_where
@click.argument("seqs", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Drop every quarantined record.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def drop_cmd(config: str | None, data_dir: Path | None, seqs: tuple[int, ...], every: bool, yes: bool) -> None:
    """Delete quarantined records for good (their spans are then lost)."""
    quarantine = Quarantine(_settings(config, data_dir).spool_dir)
    chosen = _chosen(quarantine, seqs, every)
    if not yes:
        click.confirm(f"delete {len(chosen)} quarantined record(s) for good?", abort=True)
    for seq in chosen:
        quarantine.drop(seq)
    click.echo(f"dropped {len(chosen)} record(s)")
