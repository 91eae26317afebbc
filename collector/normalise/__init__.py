"""The collector's normaliser: OTLP spans in, `Step`s out, as a pure function of the request and the price table.

It reads the OpenTelemetry GenAI conventions (latest and <= 1.36), OpenInference and OpenLLMetry through one table
per convention (`genai`, `openinference`, `openllmetry`, plus tracehouse's own attributes); the first convention
that speaks decides the step type (`../../shared/semconv.md` §3). Example::

    from tracehouse.collector.normalise import normalise_request
    from tracehouse.sdk.pricing import default_prices

    result = normalise_request(request, project_id="default", prices=default_prices())
    store(result.steps)
    answer(rejected=result.rejected_spans, message=result.error_message)
"""

from ._request import attribute_by_trace, count_invalid_spans, normalise_request
from ._types import Limits, NormaliseResult

__all__ = ["Limits", "NormaliseResult", "attribute_by_trace", "count_invalid_spans", "normalise_request"]
