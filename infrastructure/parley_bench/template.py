"""What the benchmarks read from `template.yaml`: functions, memory sizes, tables, fan-out knobs.

A tiny YAML loader that keeps CloudFormation short tags as opaque values: the benchmarks
only need literal properties, never resolved intrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from parley_bench.capacity import TableSchema, schemas_from_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = ROOT / "functions"


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no stubs
    pass


def _tagged(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_Loader.add_multi_constructor("!", _tagged)


@cache
def template(path: Path = TEMPLATE) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    directory: str  # functions/<directory>
    memory_mb: int
    timeout_s: int
    uses_layer: bool


@cache
def functions(path: Path = TEMPLATE) -> dict[str, FunctionSpec]:
    """Every `AWS::Serverless::Function`, keyed by its directory under `functions/`."""
    data = template(path)
    defaults = data.get("Globals", {}).get("Function", {})
    out: dict[str, FunctionSpec] = {}
    for logical, res in data.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        code_uri = str(props.get("CodeUri", "")).rstrip("/")
        directory = code_uri.split("/")[-1]
        layers = props.get("Layers", defaults.get("Layers", []))
        out[directory] = FunctionSpec(
            logical_id=logical,
            directory=directory,
            memory_mb=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", defaults.get("Timeout", 3))),
            uses_layer=bool(layers),
        )
    return out


def memory_mb(function: str) -> int:
    """The memory size (MB) the template gives `functions/<function>`."""
    spec = functions().get(function)
    return spec.memory_mb if spec else 128


@cache
def tables() -> dict[str, TableSchema]:
    return schemas_from_template(template().get("Resources", {}))


def parameter_default(name: str, fallback: int) -> int:
    value = template().get("Parameters", {}).get(name, {}).get("Default", fallback)
    return int(value)


def _fanout_source(queue: str) -> dict[str, Any]:
    """The properties of the fanout function's SQS event source on `queue` (a logical id:
    `PushQueue`, or `PushBulkQueue` for the bulk lane); empty when there is none."""
    res = template().get("Resources", {}).get(functions()["fanout"].logical_id, {})
    for event in res.get("Properties", {}).get("Events", {}).values():
        props = event.get("Properties", {})
        if event.get("Type") == "SQS" and props.get("Queue") == {"!GetAtt": f"{queue}.Arn"}:
            return dict(props)
    return {}


def _literal(value: Any, fallback: int) -> int:
    """A literal number, or a `!Ref` to a parameter: its default."""
    if isinstance(value, dict) and "!Ref" in value:
        return parameter_default(str(value["!Ref"]), fallback)
    return int(value) if value is not None else fallback


def fanout_max_concurrency(queue: str = "PushQueue") -> int:
    """`ScalingConfig.MaximumConcurrency` of the fanout function's SQS event source on
    `queue` (1000, Lambda's own ceiling, when it sets none)."""
    scaling = _fanout_source(queue).get("ScalingConfig", {})
    return _literal(scaling.get("MaximumConcurrency"), 1000)


def fanout_threads() -> int:
    """`PARLEY_FANOUT_THREADS` of the fanout function (the package default when unset)."""
    res = template().get("Resources", {}).get(functions()["fanout"].logical_id, {})
    variables = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
    # 16 is `Settings.fanout_threads`'s default, what the function runs with when unset.
    return int(variables.get("PARLEY_FANOUT_THREADS", 16))


def fanout_batch_size(queue: str = "PushQueue") -> int:
    """`BatchSize` of the fanout function's SQS event source on `queue`."""
    return _literal(_fanout_source(queue).get("BatchSize"), 10)
