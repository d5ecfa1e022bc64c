"""parley_local: the local cloud that runs Parley's SAM template on one machine.

    from parley_local import LocalCloud

    with LocalCloud("template.yaml") as cloud:   # free ports; see cloud.http_url, cloud.ws_url
        ...

The command line is `python -m parley_local` (or `parley-local`). Imports here are lazy:
function workers are spawned processes that import this package, and must stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley_local.cloud import LocalCloud, PortInUseError
    from parley_local.template import TemplateError

__all__ = ["LocalCloud", "PortInUseError", "TemplateError"]


def __getattr__(name: str) -> Any:
    if name in ("LocalCloud", "PortInUseError"):
        from parley_local import cloud

        return getattr(cloud, name)
    if name == "TemplateError":
        from parley_local.template import TemplateError

        return TemplateError
    raise AttributeError(f"module 'parley_local' has no attribute {name!r}")
