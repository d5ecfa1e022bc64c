"""SSM parameters (`AWS::SSM::Parameter`), put in moto's Parameter Store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley_local.intrinsics import to_string
from parley_local.resources.registry import Realised, creates
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource


@creates("AWS::SSM::Parameter", service="ssm")
def create_parameter(builder: StackBuilder, res: Resource) -> Realised:
    """Put the parameter; `Ref` is its name (`CFN-...` when generated, as CloudFormation)."""
    where = builder.where(res)
    name = builder.name(res, "Name")
    if "Name" not in res.properties:
        name = "CFN-" + name
    ptype = str(builder.prop(res, "Type", "String"))
    value = builder.prop(res, "Value")
    if value is None:
        raise TemplateError(f"{where}.Value is required")
    text = ",".join(value) if isinstance(value, list) else to_string(value, where + ".Value")
    try:
        builder.aws(res).put_parameter(Name=name, Type=ptype, Value=text, Overwrite=True)
    except Exception as exc:
        raise TemplateError(f"{where}: moto refused the parameter {name!r}: {exc}") from exc
    builder.stack.ssm_parameters[res.logical_id] = name
    return Realised(name, {"Type": ptype, "Value": text})
