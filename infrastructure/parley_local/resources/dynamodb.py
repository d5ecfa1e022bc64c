"""DynamoDB tables (`AWS::DynamoDB::Table`, SAM's `SimpleTable`), created in moto.

Keys, indexes, billing mode, streams and TTL come from the template's properties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley_local.intrinsics import truthy
from parley_local.resources.registry import Realised, creates
from parley_local.stack import TableInfo
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

TABLE = "AWS::DynamoDB::Table"
SIMPLE_TABLE = "AWS::Serverless::SimpleTable"

_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
_SIMPLE_KEY_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


@creates(TABLE, SIMPLE_TABLE, service="dynamodb")
def create_table(builder: StackBuilder, res: Resource) -> Realised:
    """Create the table (and switch TTL on); `Ref` is its name."""
    where = builder.where(res)
    name = builder.name(res, "TableName")
    kwargs = (
        _simple_table_kwargs(builder, res) if res.type == SIMPLE_TABLE else _kwargs(builder, res)
    )
    ddb = builder.aws(res)
    try:
        described = ddb.create_table(TableName=name, **kwargs)["TableDescription"]
        ttl = builder.prop(res, "TimeToLiveSpecification")
        if isinstance(ttl, dict) and truthy(ttl.get("Enabled")):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": str(ttl["AttributeName"]),
                    "Enabled": True,
                },
            )
    except Exception as exc:
        raise TemplateError(f"{where}: moto refused the table {name!r}: {exc}") from exc
    info = TableInfo(res.logical_id, name, described["TableArn"], described.get("LatestStreamArn"))
    builder.stack.tables[res.logical_id] = info
    return Realised(name, {"Arn": info.arn, "StreamArn": info.stream_arn})


def _kwargs(builder: StackBuilder, res: Resource) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for prop in ("KeySchema", "AttributeDefinitions"):
        value = builder.prop(res, prop)
        if value is None:
            raise TemplateError(f"{builder.where(res, prop)} is required")
        kwargs[prop] = value
    billing = builder.prop(res, "BillingMode")
    throughput = builder.prop(res, "ProvisionedThroughput")
    if billing is not None:
        kwargs["BillingMode"] = billing
    if throughput is not None:
        kwargs["ProvisionedThroughput"] = _ints(throughput)
    elif billing is None:
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    for prop in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = builder.prop(res, prop)
        if indexes:
            kwargs[prop] = [
                {
                    k: (_ints(v) if k == "ProvisionedThroughput" else v)
                    for k, v in index.items()
                    if k in _INDEX_KEYS
                }
                for index in indexes
            ]
    stream = builder.prop(res, "StreamSpecification")
    if isinstance(stream, dict) and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return kwargs


def _simple_table_kwargs(builder: StackBuilder, res: Resource) -> dict[str, Any]:
    key = builder.prop(res, "PrimaryKey") or {"Name": "id", "Type": "String"}
    key_type = _SIMPLE_KEY_TYPES.get(str(key.get("Type", "String")))
    if key_type is None:
        raise TemplateError(f"{builder.where(res, 'PrimaryKey')}.Type must be String|Number|Binary")
    kwargs: dict[str, Any] = {
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
    }
    throughput = builder.prop(res, "ProvisionedThroughput")
    if throughput:
        kwargs["ProvisionedThroughput"] = _ints(throughput)
    else:
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    return kwargs


def _ints(throughput: Any) -> dict[str, int]:
    if not isinstance(throughput, dict):
        raise TemplateError(f"ProvisionedThroughput must be a mapping, got {throughput!r}")
    return {str(k): int(v) for k, v in throughput.items()}
