"""AWS AppConfig (`Application`, `Environment`, `ConfigurationProfile`,
`HostedConfigurationVersion`), served by the local AppConfigData emulation.

Nothing is created in moto: Parley's functions only read configuration (AppConfigData,
which moto lacks), so the builders record what a session may name (each resource's name
and its id, as AWS accepts either) and the hosted content in `stack.appconfig`. Ids are
7 lower-case characters, as AppConfig's, stable across restarts. Deployments and
deployment strategies have no local meaning: the hosted content is served at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from parley_local import ids
from parley_local.intrinsics import to_string
from parley_local.resources.registry import Realised, creates

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource


# Per type: the set of `stack.appconfig` its identifiers go in, and its id attribute.
_NAMED: dict[str, tuple[str, str]] = {
    "AWS::AppConfig::Application": ("applications", "ApplicationId"),
    "AWS::AppConfig::Environment": ("environments", "EnvironmentId"),
    "AWS::AppConfig::ConfigurationProfile": ("profiles", "ConfigurationProfileId"),
}


@creates(*_NAMED)
def create_named(builder: StackBuilder, res: Resource) -> Realised:
    """An application, environment or configuration profile: `Ref` is its id."""
    builder.prop(res, "ApplicationId")  # realises the application it belongs to, if any
    known, attribute = _NAMED[res.type]
    name, res_id = builder.name(res, "Name"), ids.short_id(res.logical_id, builder.stack_name)
    getattr(builder.stack.appconfig, known).update((name, res_id))
    return Realised(res_id, {attribute: res_id})


@creates("AWS::AppConfig::HostedConfigurationVersion")
def create_hosted_version(builder: StackBuilder, res: Resource) -> Realised:
    """Keeps the first version's `Content` (JSON text; an object is serialised)."""
    builder.prop(res, "ApplicationId")
    builder.prop(res, "ConfigurationProfileId")
    content = builder.prop(res, "Content")
    info = builder.stack.appconfig
    if content is not None and info.content is None:
        where = builder.where(res, "Content")
        info.content = (
            json.dumps(content) if isinstance(content, dict) else to_string(content, where)
        )
        info.content_source = f"template ({res.logical_id})"
    elif content is not None:
        builder.warn(
            f"{res.logical_id}: only the first hosted configuration version "
            f"({info.content_source}) is served locally"
        )
    return Realised("1", {"VersionNumber": "1"})
