"""Logger, Metrics and Tracer, configured once for every function.

Logs are JSON with the request id as correlation id and `userId`/`connectionId` appended by
the handlers; no token, password or message body is ever logged. Metrics go out as EMF in
one namespace with a small, fixed set of dimensions.
"""

from __future__ import annotations

import gc
import os
import warnings
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# Functions without metrics on some paths (the authorizer) would warn on every invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Parley")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "parley"), utc=True)
metrics = Metrics(namespace=NAMESPACE)


def tracing_enabled() -> bool:
    """Tracing is on unless POWERTOOLS_TRACE_DISABLED says otherwise (as Powertools reads it)."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in {"1", "true", "yes"}


COUNT = MetricUnit.Count
MILLISECONDS = MetricUnit.Milliseconds


def count(name: str, value: float = 1) -> None:
    """Add to a counter metric of this invocation."""
    if value:
        metrics.add_metric(name=name, unit=COUNT, value=value)


def timing(name: str, milliseconds: float) -> None:
    """Record a latency value (CloudWatch derives P50/P95/P99 from the values)."""
    metrics.add_metric(name=name, unit=MILLISECONDS, value=milliseconds)


def error_metric(code: int) -> None:
    """Count a protocol error under the `Errors` metric with a `Code` dimension."""
    with single_metric(
        name="Errors", unit=COUNT, value=1, namespace=NAMESPACE, default_dimensions=_dims()
    ) as metric:
        metric.add_dimension(name="Code", value=str(int(code)))


def flag_metric(flag: str, outcome: str) -> None:
    """Count one feature flag evaluation as `FeatureFlag.<flag>.<outcome>` (e.g.
    `FeatureFlag.reaction.off`) in this invocation's metrics: one name per flag and outcome,
    a fixed set, under the usual `service` dimension (Flag and Outcome dimensions would make
    three where every metric keeps to two), flushed with the handler's other metrics."""
    count(f"FeatureFlag.{flag}.{outcome}")


def _dims() -> dict[str, Any]:
    return {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "parley")}


def instrumented(correlation_id_path: str | None = "requestContext.requestId") -> Any:
    """The fixed decorator order for every handler: logger context, metrics flush, tracer."""

    def wrap(handler: Any) -> Any:
        traced = handler
        if tracing_enabled():
            # Powertools' Tracer imports the X-Ray SDK (~0.2 s) even when told to do nothing,
            # so a function with tracing off never constructs one.
            from aws_lambda_powertools import Tracer

            traced = Tracer().capture_lambda_handler(handler, capture_response=False)
        flushed = metrics.log_metrics(traced, capture_cold_start_metric=True)
        wrapped = logger.inject_lambda_context(
            flushed, correlation_id_path=correlation_id_path, clear_state=True
        )
        _freeze_init_objects()
        return wrapped

    return wrap


@cache
def _freeze_init_objects() -> None:
    """Move what the cold start imported out of the cyclic collector's sight, once.

    Modules, classes and functions live as long as the container. Left tracked, the import
    of boto3 and the first clients, right after, trigger a full collection that walks them
    all (about a tenth of a function's first-ready time); frozen, it never happens and later
    full collections skip them. Reference counting still frees frozen objects.
    """
    gc.freeze()
