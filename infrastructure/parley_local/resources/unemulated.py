"""Resources with no local meaning (alarms, dashboards, log groups, IAM, KMS, SNS, ...).

They are not run, only listed (once, at debug level); their `Ref` and `Arn` still resolve
to plausible values, so that an environment variable pointing at them does not stop the
stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley_local import ids
from parley_local.resources.registry import Realised
from parley_local.stack import ACCOUNT_ID

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

# Types whose `Ref` is their ARN rather than their name.
_ARN_REFS = ("AWS::SNS::Topic", "AWS::Lambda::LayerVersion")


def realise(builder: StackBuilder, res: Resource) -> Realised:
    """Record the resource as ignored; a generated name and ARN stand for it."""
    builder.stack.ignored.setdefault(res.type, []).append(res.logical_id)
    service = res.type.split("::")[1].lower() if res.type.count("::") >= 2 else "unknown"
    name = ids.physical_name(builder.stack_name, res.logical_id, 64)
    if service == "iam":
        arn = f"arn:aws:iam::{ACCOUNT_ID}:{res.type.split('::')[-1].lower()}/{name}"
    else:
        arn = builder.arn(service, name)
    ref = arn if res.type in _ARN_REFS else name
    return Realised(ref, {"Arn": arn})
