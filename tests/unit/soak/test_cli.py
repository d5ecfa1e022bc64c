"""The soak's own cloud: what it is started with, per fault profile."""

from __future__ import annotations

import io
from typing import Any

import pytest
from parley_local.faults import FaultProfile, load_profile
from parley_soak import cli


class _Cloud:
    """Stands in for LocalCloud: records its arguments, starts and stops nothing."""

    made: list[dict[str, Any]] = []

    def __init__(self, template: Any, **kwargs: Any) -> None:
        self.made.append(kwargs)
        self.stopped = False

    def start(self) -> _Cloud:
        return self

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def clouds(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    _Cloud.made = []
    monkeypatch.setattr("parley_local.cloud.LocalCloud", _Cloud)
    return _Cloud.made


def test_a_secrets_manager_profile_makes_the_secrets_expire_every_few_seconds(
    clouds: list[dict[str, Any]],
) -> None:
    # WHEN the soak's own cloud runs the secret-unreadable profile
    with cli.own_cloud(cli.resolve_faults("secret-unreadable"), 3, io.StringIO()):
        pass

    # THEN it gets the parsed profile and a PARLEY_SECRET_MAX_AGE short enough for a soak
    (made,) = clouds
    assert isinstance(made["faults"], FaultProfile)
    assert made["faults"].kinds == {"secretsmanager"}
    max_age = cli.SECRET_MAX_AGE_UNDER_FAULTS
    assert made["function_environment"] == {"PARLEY_SECRET_MAX_AGE": str(max_age)}
    assert made["parameter_overrides"] == cli.SOAK_PARAMETERS


@pytest.mark.parametrize("faults", ["all5", "dynamodb-throttled", None])
def test_other_profiles_keep_the_templates_secret_max_age(
    faults: str | None, clouds: list[dict[str, Any]]
) -> None:
    # WHEN the soak's own cloud runs a profile without secretsmanager rules (or none)
    with cli.own_cloud(cli.resolve_faults(faults), 3, io.StringIO()):
        pass

    # THEN the functions' environment is the template's
    (made,) = clouds
    assert "function_environment" not in made
    assert ("faults" in made) == (faults is not None)


@pytest.mark.parametrize("path", sorted(cli.PROFILES.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_profile_is_a_valid_fault_profile(path: Any) -> None:
    # WHEN a profile of profiles/ is loaded as `--faults NAME` would THEN it parses, rules and all
    profile = load_profile(str(cli.resolve_faults(path.stem)))
    assert profile.rules
