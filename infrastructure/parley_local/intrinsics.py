"""CloudFormation intrinsic functions, resolved the way CloudFormation resolves them.

`Resolver.resolve` walks a property value and replaces every intrinsic (`Ref`, `Fn::GetAtt`,
`Fn::Sub`, `Fn::Join`, `Fn::If`, ...) by its value. Resources are not known here: the
resolver asks two callbacks (`ref`, `get_att`) for their physical ids and attributes, so
the same code serves unit tests (plain dicts) and the running stack (moto-backed values).

Anything that cannot be resolved raises `TemplateError` naming where it happened, e.g.
`Resources.SendFunction.Properties.Environment.Variables.TABLE: unknown resource 'Tabel'`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from parley.wire import compact_json

from parley_local.template import Template, TemplateError


class _NoValue:
    """`AWS::NoValue`: the property (or list item) is removed."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()

RefCallback = Callable[[str, str], Any]
"""(logical_id, where) -> the value of `Ref logical_id`."""
GetAttCallback = Callable[[str, str, str], Any]
"""(logical_id, attribute, where) -> the value of `Fn::GetAtt [logical_id, attribute]`."""

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
_LIST_TYPES = ("CommaDelimitedList", "List<")


def to_string(value: Any, where: str) -> str:
    """CloudFormation's string coercion for scalars (numbers and booleans become text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {type(value).__name__} {value!r}")


def truthy(value: Any) -> bool:
    """A template boolean: `true`, or the string "true" in any case (YAML often quotes it)."""
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _stack_id(region: str, account_id: str, stack_name: str) -> str:
    return (
        f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/"
        "00000000-0000-4000-8000-000000000000"
    )


class Resolver:
    """Resolves intrinsic functions against parameters, conditions, mappings and resources."""

    def __init__(
        self,
        template: Template,
        *,
        ref: RefCallback,
        get_att: GetAttCallback,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        stack_name: str = "parley-local",
    ) -> None:
        self.template = template
        self._ref = ref
        self._get_att = get_att
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.pseudo: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": _stack_id(region, account_id, stack_name),
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        self.parameters = self._parameter_values(dict(parameter_overrides or {}))
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # ------------------------------------------------------------------ parameters

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, Any]:
        declared = self.template.parameters
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(
                f"parameter override(s) {', '.join(unknown)} not declared in Parameters "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            where = f"Parameters.{name}"
            if not isinstance(spec, dict):
                raise TemplateError(f"{where} must be a mapping")
            ptype = str(spec.get("Type", "String"))
            if name in overrides:
                raw: Any = overrides[name]
            elif "Default" in spec:
                if ptype.startswith("AWS::SSM::Parameter::Value"):
                    raise TemplateError(
                        f"{where}: type {ptype} reads SSM at deploy time; give its value "
                        f"with --parameter-overrides {name}=VALUE"
                    )
                raw = spec["Default"]
            else:
                raise TemplateError(
                    f"{where} has no Default; give it with --parameter-overrides {name}=VALUE"
                )
            values[name] = self._check_parameter(name, spec, ptype, raw)
        return values

    def _check_parameter(self, name: str, spec: dict[str, Any], ptype: str, raw: Any) -> Any:
        where = f"Parameters.{name}"
        if isinstance(raw, list):
            text = ",".join(to_string(v, where) for v in raw)
        else:
            text = to_string(raw, where)
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in [to_string(a, where) for a in allowed]:
            raise TemplateError(f"{where}: value {text!r} is not one of AllowedValues {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), text):
            raise TemplateError(f"{where}: value {text!r} does not match {pattern!r}")
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            raise TemplateError(f"{where}: value shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            raise TemplateError(f"{where}: value longer than MaxLength {spec['MaxLength']}")
        if ptype == "Number":
            try:
                number = float(text)
            except ValueError:
                raise TemplateError(f"{where}: {text!r} is not a Number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateError(f"{where}: {text} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateError(f"{where}: {text} is above MaxValue {spec['MaxValue']}")
        if ptype.startswith(_LIST_TYPES):
            return [item.strip() for item in text.split(",")] if text else []
        return text

    # ------------------------------------------------------------------ conditions

    def condition(self, name: str, where: str = "Conditions") -> bool:
        """The value of the named condition (evaluated once, cycles are errors)."""
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.template.conditions:
            raise TemplateError(f"{where}: unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"Conditions.{name}: circular condition")
        self._evaluating.add(name)
        try:
            value = self._truth(self.template.conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def _truth(self, expr: Any, where: str) -> bool:
        if isinstance(expr, bool):
            return expr
        if isinstance(expr, str) and expr.lower() in ("true", "false"):
            return expr.lower() == "true"
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg) = next(iter(expr.items()))
            if fn == "Condition":
                return self.condition(str(arg), where)
            if fn == "Fn::Equals":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise TemplateError(f"{where}: Fn::Equals takes two values")
                left = self.resolve(arg[0], where + ".Fn::Equals[0]")
                right = self.resolve(arg[1], where + ".Fn::Equals[1]")
                return _comparable(left) == _comparable(right)
            if fn == "Fn::Not":
                items = arg if isinstance(arg, list) else [arg]
                if len(items) != 1:
                    raise TemplateError(f"{where}: Fn::Not takes one condition")
                return not self._truth(items[0], where + ".Fn::Not")
            if fn in ("Fn::And", "Fn::Or"):
                if not isinstance(arg, list) or not arg:
                    raise TemplateError(f"{where}: {fn} takes a list of conditions")
                results = [self._truth(c, f"{where}.{fn}[{i}]") for i, c in enumerate(arg)]
                return all(results) if fn == "Fn::And" else any(results)
        raise TemplateError(f"{where}: not a condition expression: {expr!r}")

    # ------------------------------------------------------------------ values

    def resolve(self, value: Any, where: str) -> Any:
        """Resolve every intrinsic in `value`; may return `NO_VALUE`."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg) = next(iter(value.items()))
                if key == "Ref":
                    return self._resolve_ref(arg, where)
                if isinstance(key, str) and key.startswith("Fn::"):
                    return self._resolve_fn(key, arg, where)
                if key == "Condition" and where.startswith("Conditions"):
                    return self.condition(str(arg), where)
            out: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{where}.{key}")
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            items = (self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def resolve_properties(self, props: Mapping[str, Any], where: str) -> dict[str, Any]:
        resolved = self.resolve(dict(props), where)
        assert isinstance(resolved, dict)
        return resolved

    def resolve_string(self, value: Any, where: str) -> str:
        return to_string(self.resolve(value, where), where)

    def _resolve_ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, got {name!r}")
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            raise TemplateError(f"{where}: unsupported pseudo parameter {name}")
        return self._ref(name, where)

    def _resolve_getatt(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        elif isinstance(arg, list) and len(arg) == 2:
            resource = str(arg[0])
            attribute = self.resolve_string(arg[1], where + ".Fn::GetAtt[1]")
        else:
            raise TemplateError(f"{where}: Fn::GetAtt takes [Resource, Attribute], got {arg!r}")
        if not resource or not attribute:
            raise TemplateError(f"{where}: Fn::GetAtt needs Resource.Attribute, got {arg!r}")
        return self._get_att(resource, attribute, where)

    def _resolve_fn(self, fn: str, arg: Any, where: str) -> Any:
        here = f"{where}.{fn}"
        if fn == "Fn::GetAtt":
            return self._resolve_getatt(arg, where)
        if fn == "Fn::Sub":
            return self._sub(arg, here)
        if fn == "Fn::Join":
            first, second = _pair(arg, here, "[delimiter, [values]]")
            delimiter = self.resolve_string(first, here)
            items = self._resolve_list(second, here)
            return delimiter.join(to_string(i, here) for i in items)
        if fn == "Fn::Select":
            first, second = _pair(arg, here, "[index, list]")
            index_text = self.resolve_string(first, here)
            items = self._resolve_list(second, here)
            try:
                index = int(index_text)
            except ValueError:
                raise TemplateError(f"{here}: index {index_text!r} is not an integer") from None
            if not 0 <= index < len(items):
                raise TemplateError(f"{here}: index {index} out of range for {items!r}")
            return items[index]
        if fn == "Fn::Split":
            first, second = _pair(arg, here, "[delimiter, string]")
            delimiter = self.resolve_string(first, here)
            if not delimiter:
                raise TemplateError(f"{here}: delimiter must not be empty")
            return self.resolve_string(second, here).split(delimiter)
        if fn == "Fn::If":
            if not isinstance(arg, list) or len(arg) != 3:
                raise TemplateError(f"{here}: takes [condition, value_if_true, value_if_false]")
            chosen = arg[1] if self.condition(str(arg[0]), here) else arg[2]
            return self.resolve(chosen, here)
        if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._truth({fn: arg}, where)
        if fn == "Fn::FindInMap":
            return self._find_in_map(arg, here)
        if fn == "Fn::Base64":
            return base64.b64encode(self.resolve_string(arg, here).encode()).decode()
        if fn == "Fn::GetAZs":
            region = self.resolve_string(arg, here) or self.region
            return [f"{region}{zone}" for zone in "abc"]
        if fn == "Fn::ToJsonString":
            try:
                return compact_json(self.resolve(arg, here))
            except ValueError as exc:  # NaN or infinity: JSON has no such numbers
                raise TemplateError(f"{here}: {exc}") from None
        if fn == "Fn::Length":
            items = self.resolve(arg, here)
            if not isinstance(items, list):
                raise TemplateError(f"{here}: takes a list, got {items!r}")
            return len(items)
        raise TemplateError(f"{here}: {fn} cannot be resolved by the local cloud")

    def _resolve_list(self, value: Any, here: str) -> list[Any]:
        items = self.resolve(value, here)
        if not isinstance(items, list):
            raise TemplateError(f"{here}: second argument must be a list, got {items!r}")
        return items

    def _find_in_map(self, arg: Any, here: str) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise TemplateError(f"{here}: takes [MapName, TopLevelKey, SecondLevelKey]")
        names = [self.resolve_string(a, here) for a in arg[:3]]
        default: Any = NO_VALUE
        if len(arg) == 4:
            option = arg[3]
            if not isinstance(option, dict) or "DefaultValue" not in option:
                raise TemplateError(f"{here}: fourth argument must be {{DefaultValue: ...}}")
            default = option["DefaultValue"]
        mapping = self.template.mappings.get(names[0])
        if not isinstance(mapping, dict):
            raise TemplateError(f"{here}: unknown mapping {names[0]!r}")
        top = mapping.get(names[1])
        if isinstance(top, dict) and names[2] in top:
            return self.resolve(top[names[2]], here)
        if default is not NO_VALUE:
            return self.resolve(default, here)
        raise TemplateError(f"{here}: mapping {names[0]} has no {names[1]}.{names[2]}")

    def _sub(self, arg: Any, here: str) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text = arg[0]
            variables = arg[1]
        else:
            raise TemplateError(f"{here}: takes a string or [string, {{variables}}]")
        if not isinstance(text, str):
            raise TemplateError(f"{here}: the template text must be a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                value = self.resolve(variables[name], f"{here}.{name}")
            elif "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                value = self._get_att(resource, attribute, here)
            else:
                value = self._resolve_ref(name, here)
            if isinstance(value, list):
                raise TemplateError(f"{here}: ${{{name}}} is a list and cannot be substituted")
            return to_string(value, f"{here} ${{{name}}}")

        return _SUB_VAR.sub(replace, text)


def _pair(arg: Any, here: str, usage: str) -> tuple[Any, Any]:
    """The two arguments of a function that takes `usage` (`[delimiter, [values]]`, ...)."""
    if not isinstance(arg, list) or len(arg) != 2:
        raise TemplateError(f"{here}: takes {usage}")
    return arg[0], arg[1]


def _comparable(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return to_string(value, "Fn::Equals")
    return value
