"""SQS queues, created in moto, and the SQS event sources that feed functions from them.

Queues keep their names, visibility timeout, retention and redrive to the DLQ. Event
sources are a function's `Events` of `Type: SQS` or an `AWS::Lambda::EventSourceMapping`
on a queue; each becomes an `SqsMapping` the pollers run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from parley_local.intrinsics import to_string, truthy
from parley_local.resources.functions import function_events, function_for_arn
from parley_local.resources.registry import (
    Phase,
    Realised,
    assembles,
    creates,
    handles_events,
)
from parley_local.stack import QueueInfo, SqsMapping
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

handles_events("SQS")

_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


@creates("AWS::SQS::Queue", service="sqs")
def create_queue(builder: StackBuilder, res: Resource) -> Realised:
    """Create the queue; `Ref` is its URL."""
    where = builder.where(res)
    fifo = truthy(builder.prop(res, "FifoQueue", False))
    name = builder.name(res, "QueueName", 80, ".fifo" if fifo else "")
    attributes: dict[str, str] = {}
    for prop in _ATTRIBUTES:
        value = builder.prop(res, prop)
        if value is not None:
            attributes[prop] = to_string(value, builder.where(res, prop))
    if fifo:
        attributes["FifoQueue"] = "true"
    for prop in ("RedrivePolicy", "RedriveAllowPolicy"):
        policy = builder.prop(res, prop)
        if policy is None:
            continue
        if isinstance(policy, str):
            policy = json.loads(policy)
        if "maxReceiveCount" in policy:
            policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
        attributes[prop] = json.dumps(policy)
    try:
        url = builder.aws(res).create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except Exception as exc:
        raise TemplateError(f"{where}: moto refused the queue {name!r}: {exc}") from exc
    info = QueueInfo(
        res.logical_id,
        name,
        url,
        builder.arn("sqs", name),
        int(attributes.get("VisibilityTimeout", "30")),
        fifo,
    )
    builder.stack.queues[res.logical_id] = info
    return Realised(url, {"Arn": info.arn, "QueueName": name, "QueueUrl": url})


@assembles(Phase.EVENT_SOURCES)
def assemble_event_sources(builder: StackBuilder) -> None:
    """An `SqsMapping` per SQS event of a function and per SQS event source mapping."""
    for res, event_name, event, where in function_events(builder, "SQS"):
        props = event.get("Properties") or {}
        _add_mapping(builder, f"{res.logical_id}.{event_name}", res.logical_id, props, where)
    for res in builder.active_of_type("AWS::Lambda::EventSourceMapping"):
        where = builder.where(res)
        source = builder.prop(res, "EventSourceArn")
        if not isinstance(source, str) or ":sqs:" not in source:
            builder.warn(f"{res.logical_id}: only SQS event source mappings are emulated")
            continue
        function = function_for_arn(
            builder, builder.prop(res, "FunctionName"), where + ".FunctionName"
        )
        props = {
            "Queue": source,
            "BatchSize": builder.prop(res, "BatchSize"),
            "MaximumBatchingWindowInSeconds": builder.prop(res, "MaximumBatchingWindowInSeconds"),
            "FunctionResponseTypes": builder.prop(res, "FunctionResponseTypes"),
            "Enabled": builder.prop(res, "Enabled", True),
            "ScalingConfig": builder.prop(res, "ScalingConfig"),
        }
        given = {k: v for k, v in props.items() if v is not None}
        _add_mapping(builder, res.logical_id, function, given, where)


def _add_mapping(
    builder: StackBuilder, name: str, function: str, props: dict[str, Any], where: str
) -> None:
    if not truthy(props.get("Enabled", True)):
        builder.warn(f"{name}: event source disabled (Enabled: false)")
        return
    queue = _queue_for_arn(builder, props.get("Queue"), where + ".Properties.Queue")
    batch_size = int(props.get("BatchSize", 10))
    if not 1 <= batch_size <= 10_000:
        raise TemplateError(f"{where}.Properties.BatchSize must be 1..10000")
    response_types = props.get("FunctionResponseTypes") or []
    scaling = props.get("ScalingConfig") or {}
    max_concurrency = scaling.get("MaximumConcurrency") if isinstance(scaling, dict) else None
    builder.stack.sqs_mappings.append(
        SqsMapping(
            name=name,
            function=function,
            queue=queue,
            batch_size=batch_size,
            batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in response_types,
            max_concurrency=int(max_concurrency) if max_concurrency else None,
        )
    )


def _queue_for_arn(builder: StackBuilder, arn: Any, where: str) -> QueueInfo:
    for queue in builder.stack.queues.values():
        if queue.arn == arn:
            return queue
    raise TemplateError(f"{where}: {arn!r} is not a queue of this template")
