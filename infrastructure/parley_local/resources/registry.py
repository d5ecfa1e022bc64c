"""The registry of resource builders, keyed by resource type.

Each module of `parley_local.resources` registers what it knows of one resource family:

* `@creates(type, ...)`: realises a resource of that type (creates it in moto, or works out
  its `Ref` and attributes); `service=` names the moto service it lives in, so that the
  local cloud starts and warms exactly the services a template needs;
* `@assembles(phase)`: once every resource is realised, derives what the gateways, pollers
  and Lambda runtime consume (function specs, APIs, event sources), phase by phase;
* `@expands`: adds the resources SAM generates (roles, aliases, default stages) before
  anything resolves, so that references to them resolve;
* `handles_events(type, ...)`: the function `Events` types it turns into something local;
  other types are warned about.

Adding a resource type is adding a module that registers its builders, and naming it in
`parley_local/resources/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from parley_local.template import Template

if TYPE_CHECKING:
    from parley_local.builder import StackBuilder
    from parley_local.template import Resource


@dataclass
class Realised:
    """What a resource resolves to: its `Ref` value and its `Fn::GetAtt` attributes."""

    ref: Any
    attrs: dict[str, Any]


Create = Callable[["StackBuilder", "Resource"], Realised]
Assemble = Callable[["StackBuilder"], None]
Expand = Callable[[Template], None]


class Phase(IntEnum):
    """When an assembler runs (lower first; within a phase, in registration order)."""

    FUNCTIONS = 1  # function specs: everything after refers to functions
    APIS = 2  # WebSocket and HTTP APIs
    EVENT_SOURCES = 3  # what invokes functions besides the APIs


@dataclass(frozen=True)
class _Creator:
    create: Create
    service: str | None


_CREATORS: dict[str, _Creator] = {}
_ASSEMBLERS: list[tuple[Phase, int, Assemble]] = []
_EXPANDERS: list[Expand] = []
_EVENT_TYPES: set[str] = set()


def creates(*types: str, service: str | None = None) -> Callable[[Create], Create]:
    """Register `create` as the builder of resources of `types` (in moto's `service`)."""

    def register(create: Create) -> Create:
        for rtype in types:
            if rtype in _CREATORS:
                raise ValueError(f"{rtype} has two builders")
            _CREATORS[rtype] = _Creator(create, service)
        return create

    return register


def assembles(phase: Phase) -> Callable[[Assemble], Assemble]:
    """Register `assemble` to run in `phase`, once every resource is realised."""

    def register(assemble: Assemble) -> Assemble:
        _ASSEMBLERS.append((phase, len(_ASSEMBLERS), assemble))
        return assemble

    return register


def expands(expand: Expand) -> Expand:
    """Register `expand` to add SAM's implicit resources to a template before resolution."""
    _EXPANDERS.append(expand)
    return expand


def handles_events(*event_types: str) -> None:
    """Declare function `Events` types that some assembler turns into local behaviour."""
    _EVENT_TYPES.update(event_types)


def creator(rtype: str) -> Create | None:
    """The builder of `rtype`, or None for a type with no local meaning."""
    found = _CREATORS.get(rtype)
    return found.create if found is not None else None


def service(rtype: str) -> str | None:
    """The moto service resources of `rtype` are created in, if any."""
    found = _CREATORS.get(rtype)
    return found.service if found is not None else None


def services(template: Template) -> tuple[str, ...]:
    """The moto services the template's resources live in, sorted."""
    found = {service(res.type) for res in template.resources.values()}
    return tuple(sorted(name for name in found if name is not None))


def assemblers() -> list[Assemble]:
    """Every assembler, in the order they run."""
    return [assemble for _, _, assemble in sorted(_ASSEMBLERS, key=lambda a: (a[0], a[1]))]


def expanders() -> list[Expand]:
    """Every expander, in registration order."""
    return list(_EXPANDERS)


def event_types() -> frozenset[str]:
    """The function `Events` types the local cloud emulates."""
    return frozenset(_EVENT_TYPES)
