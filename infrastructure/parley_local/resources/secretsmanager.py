"""Secrets Manager secrets, created in moto with `SecretString` or `GenerateSecretString`."""

from __future__ import annotations

import json
import secrets
import string
from typing import TYPE_CHECKING, Any

from parley_local import ids
from parley_local.intrinsics import to_string, truthy
from parley_local.resources.registry import Realised, creates
from parley_local.stack import SecretInfo
from parley_local.template import TemplateError

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource

# AWS Secrets Manager's punctuation set for GetRandomPassword / GenerateSecretString.
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@creates("AWS::SecretsManager::Secret", service="secretsmanager")
def create_secret(builder: StackBuilder, res: Resource) -> Realised:
    """Create the secret; `Ref` is its ARN, as on CloudFormation."""
    where = builder.where(res)
    if "Name" in res.properties:
        name = builder.name(res, "Name")
    else:  # CloudFormation names a secret `{LogicalId}-{random}`
        name = f"{res.logical_id}-{ids.physical_name(builder.stack_name, res.logical_id)[-12:]}"
    secret_string = builder.prop(res, "SecretString")
    generate = builder.prop(res, "GenerateSecretString")
    if secret_string is not None and generate is not None:
        raise TemplateError(f"{where}: SecretString and GenerateSecretString exclude each other")
    if generate is not None:
        if not isinstance(generate, dict):
            raise TemplateError(f"{where}.GenerateSecretString must be a mapping")
        secret_string = generate_secret_string(generate, f"{where}.GenerateSecretString")
    kwargs: dict[str, Any] = {"Name": name}
    if secret_string is not None:
        kwargs["SecretString"] = to_string(secret_string, f"{where}.SecretString")
    description = builder.prop(res, "Description")
    if description is not None:
        kwargs["Description"] = str(description)
    try:
        arn = builder.aws(res).create_secret(**kwargs)["ARN"]
    except Exception as exc:
        raise TemplateError(f"{where}: moto refused the secret {name!r}: {exc}") from exc
    builder.stack.secrets[res.logical_id] = SecretInfo(res.logical_id, name, arn)
    return Realised(arn, {"Id": arn, "Arn": arn})


def generate_secret_string(spec: dict[str, Any], where: str) -> str:
    """A value for `GenerateSecretString`, honouring its options like Secrets Manager."""
    length = int(spec.get("PasswordLength", 32))
    if not 1 <= length <= 4096:
        raise TemplateError(f"{where}.PasswordLength must be 1..4096, got {length}")
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    classes: list[str] = []
    if not truthy(spec.get("ExcludeLowercase", False)):
        classes.append(string.ascii_lowercase)
    if not truthy(spec.get("ExcludeUppercase", False)):
        classes.append(string.ascii_uppercase)
    if not truthy(spec.get("ExcludeNumbers", False)):
        classes.append(string.digits)
    if not truthy(spec.get("ExcludePunctuation", False)):
        classes.append(_PUNCTUATION)
    if truthy(spec.get("IncludeSpace", False)):
        classes.append(" ")
    classes = ["".join(c for c in chars if c not in excluded) for chars in classes]
    classes = [c for c in classes if c]
    alphabet = "".join(classes)
    if not alphabet:
        raise TemplateError(f"{where}: the options exclude every character")
    require_each = truthy(spec.get("RequireEachIncludedType", True))
    if require_each and length < len(classes):
        raise TemplateError(f"{where}: PasswordLength too short to include each type")
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if not require_each or all(any(ch in cls for ch in value) for cls in classes):
            break
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template is None and key is None:
        return value
    if template is None or key is None:
        raise TemplateError(
            f"{where}: SecretStringTemplate and GenerateStringKey go together (one is missing)"
        )
    try:
        document = json.loads(str(template))
    except ValueError as exc:
        raise TemplateError(f"{where}.SecretStringTemplate is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(f"{where}.SecretStringTemplate must be a JSON object")
    document[str(key)] = value
    return json.dumps(document)
