"""tracehouse's own attributes as a table: only fields, never the step kind (GenAI decides that for our spans).

Read before every other table, so a cost, attempt number, content hash or hand-off the SDK recorded wins.
"""

from __future__ import annotations

from tracehouse.sdk import semconv as sc

from ._table import Convention, Field

FIELDS: dict[Field, tuple[str, ...]] = {
    Field.COST_USD: (sc.COST_USD,),
    Field.RETRY_ATTEMPT: (sc.RETRY_ATTEMPT,),
    Field.CONTENT_HASH: (sc.CONTENT_HASH,),
    Field.HANDOFF_SOURCE: (sc.HANDOFF_SOURCE,),
    Field.HANDOFF_TARGET: (sc.HANDOFF_TARGET,),
    Field.INPUT: (sc.INPUT_PREVIEW,),
    Field.OUTPUT: (sc.OUTPUT_PREVIEW,),
}

TRACEHOUSE = Convention(name="tracehouse", kinds=(), fields=FIELDS, speaks_kind=False)
