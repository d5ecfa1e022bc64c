"""S3 buckets, created in moto with their CORS rules.

A bucket keeps its name (CloudFormation's generated names are lower-cased, as S3 requires)
and its `CorsConfiguration`, so that a browser's presigned upload and download work against
the local endpoint. Encryption, public access blocks, ownership, lifecycle and logging have
no local effect (moto keeps objects in memory, and the local cloud lasts one session);
form uploads are checked as S3 checks them by `parley_local.s3_post`. `Ref` is the name,
`Arn`, `DomainName` and `RegionalDomainName` resolve as on CloudFormation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley_local.resources.registry import Realised, creates
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

# CloudFormation's CorsRule property names and the S3 API's.
_CORS_FIELDS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
    "MaxAge": "MaxAgeSeconds",
    "Id": "ID",
}


@creates("AWS::S3::Bucket", service="s3")
def create_bucket(builder: StackBuilder, res: Resource) -> Realised:
    """Create the bucket (and its CORS rules); `Ref` is its name."""
    where = builder.where(res)
    name = builder.name(res, "BucketName", 63).lower()
    s3 = builder.aws(res)
    try:
        if builder.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": builder.region}
            )
    except Exception as exc:
        raise TemplateError(f"{where}: moto refused the bucket {name!r}: {exc}") from exc
    cors = builder.prop(res, "CorsConfiguration")
    if cors is not None:
        rules = [_cors_rule(rule, f"{where}.CorsConfiguration") for rule in cors["CorsRules"]]
        rules = [rule for rule in rules if rule["AllowedOrigins"]]
        if rules:
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    domain = f"{name}.s3.amazonaws.com"
    return Realised(
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": domain,
            "RegionalDomainName": f"{name}.s3.{builder.region}.amazonaws.com",
        },
    )


def _cors_rule(rule: Any, where: str) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise TemplateError(f"{where}.CorsRules must hold mappings")
    out: dict[str, Any] = {}
    for prop, value in rule.items():
        if prop not in _CORS_FIELDS:
            raise TemplateError(f"{where}.CorsRules: {prop} is not a CORS rule property")
        out[_CORS_FIELDS[prop]] = int(value) if prop == "MaxAge" else value
    # `!Ref AllowedOrigins` of an empty CommaDelimitedList is [""]: no origin.
    out["AllowedOrigins"] = [o for o in out.get("AllowedOrigins", []) if o]
    return out
