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


def _identifiers(builder: StackBuilder, res: Resource) -> tuple[str, str]:
    """(name, id) of the resource."""
    return builder.name(res, "Name"), ids.short_id(res.logical_id, builder.stack_name)


@creates("AWS::AppConfig::Application")
def create_application(builder: StackBuilder, res: Resource) -> Realised:
    """`Ref` is the application id."""
    name, app_id = _identifiers(builder, res)
    builder.stack.appconfig.applications.update((name, app_id))
    return Realised(app_id, {"ApplicationId": app_id})


@creates("AWS::AppConfig::Environment")
def create_environment(builder: StackBuilder, res: Resource) -> Realised:
    """`Ref` is the environment id."""
    builder.prop(res, "ApplicationId")  # realises the application it belongs to
    name, env_id = _identifiers(builder, res)
    builder.stack.appconfig.environments.update((name, env_id))
    return Realised(env_id, {"EnvironmentId": env_id})


@creates("AWS::AppConfig::ConfigurationProfile")
def create_configuration_profile(builder: StackBuilder, res: Resource) -> Realised:
    """`Ref` is the configuration profile id."""
    builder.prop(res, "ApplicationId")
    name, profile_id = _identifiers(builder, res)
    builder.stack.appconfig.profiles.update((name, profile_id))
    return Realised(profile_id, {"ConfigurationProfileId": profile_id})


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
