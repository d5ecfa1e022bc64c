"""Standing the template's resources up: `StackBuilder` walks `Resources` once.

Resources are *realised* lazily and in dependency order: resolving `!GetAtt Dlq.Arn` while
creating `Queue` first creates `Dlq`. How each resource type is realised, and what is
derived from the realised resources (functions, APIs, event sources), is up to the builder
modules of `parley_local.resources`, looked up in its registry by resource type; this
module holds what they share: resolution, names, ARNs and the AWS clients. Resource types
with no builder are ignored; their `Ref`/`Arn` still resolve to plausible values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from parley_local import ids
from parley_local.intrinsics import NO_VALUE, Resolver, to_string
from parley_local.resources import registry, unemulated
from parley_local.resources.registry import Realised
from parley_local.stack import ACCOUNT_ID, Stack
from parley_local.template import Resource, Template, TemplateError


class AwsClientFactory(Protocol):
    """Where data resources are created: boto3 clients for moto (or a test's fake)."""

    def client(self, service: str) -> Any:
        """A client of `service`."""
        ...


class StackBuilder:
    """Builds a `Stack` from a `Template`, creating data resources through `clients`."""

    def __init__(
        self,
        template: Template,
        clients: AwsClientFactory | None,
        *,
        ws_endpoint: str,
        http_endpoint: str,
        parameter_overrides: dict[str, str] | None = None,
        stack_name: str = "parley-local",
        region: str = "us-east-1",
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self.template = template
        self.clients = clients
        self.ws_endpoint = ws_endpoint
        self.http_endpoint = http_endpoint
        self.stack_name = stack_name
        self.region = region
        self._debug = debug or (lambda _msg: None)
        for expand in registry.expanders():
            expand(template)
        self.resolver = Resolver(
            template,
            ref=self.ref,
            get_att=self._get_att,
            parameter_overrides=parameter_overrides,
            region=region,
            account_id=ACCOUNT_ID,
            stack_name=stack_name,
        )
        self.stack = Stack(stack_name=stack_name, region=region)
        self._realised: dict[str, Realised] = {}
        self._in_progress: list[str] = []

    # ------------------------------------------------------------ build

    def build(self) -> Stack:
        """Create every active resource, then derive functions, APIs and event sources."""
        for res in list(self.template.resources.values()):
            if self.active(res):
                self.realise(res)
        for ignored_type, logical_ids in sorted(self.stack.ignored.items()):
            self._debug(f"ignored (no local meaning): {ignored_type}: {', '.join(logical_ids)}")
        for assemble in registry.assemblers():
            assemble(self)
        return self.stack

    # ------------------------------------------------------------ resolution

    def _resource(self, logical_id: str, where: str) -> Resource:
        function_id, dot, suffix = logical_id.partition(".")
        if dot and suffix in ("Alias", "Version"):
            # SAM's property references: `!Ref MyFunction.Alias`, `!Ref MyFunction.Version`.
            function = self.template.resources.get(function_id)
            alias = function.properties.get("AutoPublishAlias") if function else None
            if function is not None and isinstance(alias, str):
                logical_id = function_id + (f"Alias{alias}" if suffix == "Alias" else "Version")
        res = self.template.resources.get(logical_id)
        if res is None:
            raise TemplateError(f"{where}: unknown resource or parameter {logical_id!r}")
        if not self.active(res):
            raise TemplateError(
                f"{where}: {logical_id} is not created (its condition {res.condition} is false)"
            )
        return res

    def active(self, res: Resource) -> bool:
        """Whether the resource is created (no `Condition`, or a true one)."""
        if res.condition is None:
            return True
        return self.resolver.condition(str(res.condition), f"Resources.{res.logical_id}")

    def ref(self, logical_id: str, where: str) -> Any:
        """What `!Ref logical_id` resolves to, realising the resource first if need be."""
        return self.realise(self._resource(logical_id, where)).ref

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        res = self._resource(logical_id, where)
        realised = self.realise(res)
        if attribute not in realised.attrs:
            known = ", ".join(sorted(realised.attrs)) or "none"
            raise TemplateError(
                f"{where}: {res.type} {logical_id} has no attribute {attribute!r} locally "
                f"(available: {known})"
            )
        value = realised.attrs[attribute]
        if value is None:
            raise TemplateError(f"{where}: {logical_id}.{attribute} is not set for this resource")
        return value

    def realise(self, res: Resource) -> Realised:
        """The resource's `Ref` and attributes, creating it (and what it needs) once."""
        done = self._realised.get(res.logical_id)
        if done is not None:
            return done
        if res.logical_id in self._in_progress:
            chain = " -> ".join([*self._in_progress, res.logical_id])
            raise TemplateError(f"circular reference between resources: {chain}")
        self._in_progress.append(res.logical_id)
        try:
            for dep in res.depends_on:
                self.ref(dep, f"Resources.{res.logical_id}.DependsOn")
            create = registry.creator(res.type) or unemulated.realise
            realised = create(self, res)
        finally:
            self._in_progress.pop()
        self._realised[res.logical_id] = realised
        self.stack.refs[res.logical_id] = realised.ref
        return realised

    # ------------------------------------------------------------ for the resource builders

    def where(self, res: Resource, prop: str | None = None) -> str:
        """`Resources.X.Properties[.prop]`: the place error messages name."""
        base = f"Resources.{res.logical_id}.Properties"
        return f"{base}.{prop}" if prop else base

    def prop(self, res: Resource, name: str, default: Any = None) -> Any:
        """A property's resolved value; `default` when absent or `AWS::NoValue`."""
        if name not in res.properties:
            return default
        value = self.resolver.resolve(res.properties[name], self.where(res, name))
        return default if value is NO_VALUE else value

    def name(self, res: Resource, prop: str, max_length: int = 255, suffix: str = "") -> str:
        """The name given in `prop`, else one generated as CloudFormation does."""
        given = self.prop(res, prop)
        if given is not None:
            return to_string(given, self.where(res, prop))
        return ids.physical_name(self.stack_name, res.logical_id, max_length, suffix)

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        """An ARN of this stack's account (and region, unless `region` is false)."""
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def aws(self, res: Resource) -> Any:
        """A client of the moto service the resource's type is registered with."""
        service = registry.service(res.type)
        if self.clients is None or service is None:
            raise TemplateError(f"Resources.{res.logical_id}: no AWS endpoint to create it in")
        return self.clients.client(service)

    def active_of_type(self, *types: str) -> list[Resource]:
        """The template's created resources of `types`, in template order."""
        return [r for r in self.template.of_type(*types) if self.active(r)]

    def warn(self, message: str) -> None:
        """A warning shown at start: something of the template is not emulated."""
        self.stack.warnings.append(message)
