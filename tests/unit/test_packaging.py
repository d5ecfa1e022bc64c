"""Packaging: what each install and the Lambda layer ship.

Every third-party module the code imports is declared where that code is installed from:
the layer's requirements for the layer and the handlers, the `client` extra for the CLI,
the `local` extra for the local cloud. The layer's build (the Makefile target `sam build`
runs) leaves out the SDK the Lambda runtime already has. `make extras` (CI) goes further
and installs each extra alone into a clean venv.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "parley"
FIRST_PARTY = {"parley", "parley_local", "parley_client", "parley_bench", "functions", "app"}
# Distributions pinned by the one named: a requirement of their own could only disagree
# with that pin. pydantic pins pydantic-core to one version (`from pydantic_core import
# PydanticCustomError` is pydantic's documented way to raise a custom error); boto3 pins
# botocore to its minor version (the local cloud and the layer catch its exceptions).
COMES_WITH = {"pydantic-core": "pydantic", "botocore": "boto3"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def build_layer() -> ModuleType:
    """layers/parley/build_layer.py (a script beside the layer, not a package module)."""
    spec = importlib.util.spec_from_file_location("build_layer", LAYER / "build_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def runtime_python() -> str | None:
    """A Python of the runtime's version: on the PATH, else pyenv's, else None."""
    version = build_layer().PYTHON_VERSION
    candidates = [f"python{version}"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        prefix = subprocess.run(
            [pyenv, "prefix", version], capture_output=True, text=True, check=False
        )
        if prefix.returncode == 0:
            candidates.append(str(Path(prefix.stdout.strip()) / "bin" / f"python{version}"))
    for python in candidates:
        if build_layer().python_version(python) == version:
            return python
    return None


@cache
def project() -> dict[str, list[str]]:
    """pyproject's requirement lists: `dependencies` and one per extra."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"dependencies": data["dependencies"], **data["optional-dependencies"]}


def declared(*lists: str) -> set[str]:
    """Canonical names the install `pip install .[extra...]` brings in directly."""
    names: set[str] = set()
    for key in lists:
        for line in project()[key]:
            requirement = Requirement(line)
            if canonical(requirement.name) == "parley":  # `parley[client,local]`
                names |= declared(*requirement.extras)
            else:
                names.add(canonical(requirement.name))
    return names


def requirements_file(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {canonical(Requirement(line).name) for line in lines if line}


def third_party_imports(*roots: Path) -> dict[str, set[str]]:
    """{top-level module: files importing it} for absolute imports of non-stdlib modules."""
    found: dict[str, set[str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    """The imports no allowed distribution provides, with the files that import them."""
    providers = packages_distributions()
    missing = []
    for module, files in sorted(imports.items()):
        names = {canonical(d) for d in providers.get(module, [module])}
        names = {COMES_WITH.get(n, n) for n in names}
        if not names & allowed:
            missing.append(f"{module} (from {sorted(names)}) in {sorted(files)}")
    return missing


# ---- declarations ----------------------------------------------------------------------


def test_the_cli_imports_only_what_the_client_extra_declares() -> None:
    # GIVEN the client library and CLI
    imports = third_party_imports(ROOT / "clients" / "python" / "parley_client")
    # WHEN their imports are matched to `pip install .[client]`
    missing = undeclared(imports, declared("dependencies", "client"))
    # THEN every one is declared
    assert imports and not missing, missing


def test_the_local_cloud_imports_only_what_the_local_extra_declares() -> None:
    imports = third_party_imports(ROOT / "infrastructure" / "parley_local")
    missing = undeclared(imports, declared("dependencies", "local"))
    assert {"moto", "aiohttp", "multidict", "werkzeug", "yaml"} <= set(imports)
    assert not missing, missing


def own_requirements() -> list[Path]:
    """Functions that ship packages of their own (SAM installs `requirements.txt` beside
    the handler): the notifier's Web Push libraries, the devices API's `cryptography`."""
    return sorted((ROOT / "functions").glob("*/requirements.txt"))


def test_the_layer_and_handlers_import_only_what_the_layer_ships() -> None:
    # GIVEN the layer's package and the handlers that run on it (those with requirements
    # of their own are checked below)
    own = {path.parent for path in own_requirements()}
    handlers = [d for d in sorted((ROOT / "functions").iterdir()) if d.is_dir() and d not in own]
    imports = third_party_imports(LAYER / "parley", *handlers)
    # WHEN matched to the layer's requirements plus what the runtime provides
    shipped = requirements_file(LAYER / "requirements.txt")
    missing = undeclared(imports, shipped | build_layer().RUNTIME_PROVIDED)
    # THEN nothing is missing, and the tests install what the layer ships
    assert not missing, missing
    assert shipped <= declared("dependencies")


def test_functions_with_own_requirements_import_only_those_and_the_layers() -> None:
    # GIVEN each function that ships packages of its own
    assert own_requirements()
    shipped = requirements_file(LAYER / "requirements.txt") | build_layer().RUNTIME_PROVIDED
    for path in own_requirements():
        # WHEN its imports are matched to its requirements, the layer's and the runtime's
        imports = third_party_imports(path.parent)
        missing = undeclared(imports, shipped | requirements_file(path))
        # THEN nothing is missing, and the local cloud (which runs it) installs them too
        assert not missing, (path, missing)
        assert requirements_file(path) <= declared("dependencies", "local"), path


def test_dev_installs_both_extras() -> None:
    assert declared("client") | declared("local") <= declared("dev")


def test_the_license_is_an_spdx_expression() -> None:
    # a table (`{ text = ... }`) is deprecated by PEP 639 and warns on every build
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["license"] == "Apache-2.0"


# ---- the layer's build -------------------------------------------------------------------


def test_sam_builds_the_layer_with_its_makefile_for_the_runtime() -> None:
    # GIVEN the template's layer and the functions that use it
    template = yaml_parse((ROOT / "template.yaml").read_text())
    layer = template["Resources"]["ParleyLayer"]
    function = template["Globals"]["Function"]
    # THEN SAM runs the layer's Makefile target, which exists
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/parley"
    assert re.search(r"^build-ParleyLayer:", (LAYER / "Makefile").read_text(), flags=re.M)
    # AND the build targets the functions' runtime and architecture
    runtime = f"python{build_layer().PYTHON_VERSION}"
    assert function["Runtime"] == runtime
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert function["Architectures"] == ["arm64"] == layer["Properties"]["CompatibleArchitectures"]
    assert all(p.endswith("_aarch64") for p in build_layer().PLATFORMS)


def test_powertools_brings_the_tracer_instead_of_a_bare_xray_sdk() -> None:
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    [powertools] = [r for r in requirements if r.name == "aws-lambda-powertools"]
    assert "tracer" in powertools.extras
    assert "aws-xray-sdk" not in {r.name for r in requirements}


def test_the_layer_build_stops_without_the_runtimes_python(tmp_path: Path) -> None:
    # GIVEN no Python 3.13 where the build looks for it
    missing = str(tmp_path / "python3.13")
    # WHEN the build checks it, THEN it stops, saying what to do
    with pytest.raises(SystemExit, match=r"RUNTIME_PYTHON=.*SOURCE_ONLY=1"):
        build_layer().require_runtime_python(missing)


@pytest.mark.slow
def test_the_layer_build_leaves_out_what_the_runtime_provides(tmp_path: Path) -> None:
    # GIVEN the target `sam build` runs for the layer, with SAM's ARTIFACTS_DIR, and the
    # runtime's Python to compile it (without one, the build can only ship source)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    make = ["make", "--no-print-directory", "-C", str(LAYER), "build-ParleyLayer"]
    runtime = runtime_python()
    make.append(f"RUNTIME_PYTHON={runtime}" if runtime else "SOURCE_ONLY=1")
    # WHEN it builds (pip resolves for the runtime's platform; its cache makes this fast)
    subprocess.run(
        [*make, f"ARTIFACTS_DIR={tmp_path}", f"PYTHON={sys.executable}"],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    # THEN the layer's python/ holds Parley and its dependencies for arm64 and Python 3.13
    shipped = tmp_path / "python"
    top = {p.name for p in shipped.iterdir()}
    assert {"parley", "aws_lambda_powertools", "aws_xray_sdk", "jwt", "wrapt"} <= top
    assert "typing_extensions.py" in top
    [native] = (shipped / "wrapt").glob("_wrappers.*.so")
    assert native.name.endswith(".cpython-313-aarch64-linux-gnu.so")
    # AND no pydantic: the functions validate without it (parley.validation)
    assert not top & {"pydantic", "pydantic_core"}
    # AND none of the SDK the runtime provides, neither as a package nor as a distribution
    dists = {canonical(p.name.split("-")[0]) for p in shipped.glob("*.dist-info")}
    assert not dists & build_layer().RUNTIME_PROVIDED, dists
    assert not top & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil"}
    assert "six.py" not in top
    # AND the parley package as it is in the source, without the source tree's bytecode
    source = {p.relative_to(LAYER).as_posix() for p in (LAYER / "parley").rglob("*.py")}
    built = {p.relative_to(shipped).as_posix() for p in (shipped / "parley").rglob("*")}
    assert source <= built
    pycs = [p.relative_to(shipped).as_posix() for p in shipped.rglob("*.pyc")]
    assert not [
        name for name in pycs if not re.search(r"__pycache__/[^/]+\.cpython-313\.pyc$", name)
    ]
    if runtime is None:
        reason = "no Python 3.13 (python3.13 on the PATH or pyenv's) to compile the layer:"
        pytest.skip(f"{reason} built with SOURCE_ONLY=1, so its bytecode is not checked")
    # AND every module has the runtime's bytecode, which the runtime uses without a check
    modules = sorted(shipped.rglob("*.py"))
    script = "import importlib.util as u, sys; print(u.MAGIC_NUMBER.hex()); "
    script += "[print(u.source_hash(open(p, 'rb').read()).hex()) for p in sys.argv[1:]]"
    out = subprocess.run(
        [runtime, "-c", script, *map(str, modules)], capture_output=True, text=True, check=True
    )
    magic, *hashes = out.stdout.split()
    wrong = []
    for module, source_hash in zip(modules, hashes, strict=True):
        pyc = module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc"
        header = pyc.read_bytes()[:16] if pyc.exists() else b""
        # PEP 552 header: magic, flags (bit 0 hash-based, bit 1 check_source), source hash
        flags = int.from_bytes(header[4:8], "little")
        if (header[:4].hex(), flags, header[8:].hex()) != (magic, 0b01, source_hash):
            wrong.append(module.relative_to(shipped).as_posix())
    assert modules and not wrong, wrong
