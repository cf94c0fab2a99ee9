"""What `sam build` makes: compiled code only for the architecture it will run on, and a lean common layer.

pip falls back to a source build (which compiles for *this* machine) when a dependency has no
wheel for the target platform; Lambda would then fail at import time with "invalid ELF header".
The ELF header of every shared object in .aws-sam/build is read here and compared with the
architecture the template declares for that build directory.

The common layer is also checked for what it holds (nothing the runtime provides, none of
huaweicloudsdkcore's unused dependencies), its size, and that it alone signs an APIG request and
imports both handlers.

Runs after `sam build` (see .ci/template-checks.sh). Without a build directory it fails;
`make test` leaves this module to `make template-checks`, which builds first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apig_emulator import signing

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("TASKWATCH_BUILD_DIR", REPO_ROOT / ".aws-sam" / "build"))

ELF_MAGIC = b"\x7fELF"
# e_machine values from the ELF specification (elf.h: EM_X86_64, EM_AARCH64).
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
MACHINE_NAMES = {value: key for key, value in ELF_MACHINE.items()}
CPYTHON_TAG = "cpython-312"


def elf_machine(path: Path) -> int | None:
    """The e_machine field of an ELF file, or None when the file is not ELF."""
    with path.open("rb") as stream:
        header = stream.read(20)
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        return None
    byte_order = "<" if header[5] == 1 else ">"  # EI_DATA: 1 little endian, 2 big endian
    (machine,) = struct.unpack(f"{byte_order}H", header[18:20])
    return int(machine)


def is_shared_object(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".so") or ".so." in path.name)


def declared_architecture(resource: dict[str, Any], template: dict[str, Any]) -> str:
    properties = resource.get("Properties", {})
    if resource["Type"] == "AWS::Serverless::LayerVersion":
        return str(resource.get("Metadata", {}).get("BuildArchitecture", "x86_64"))
    architectures = properties.get(
        "Architectures", template.get("Globals", {}).get("Function", {}).get("Architectures", ["x86_64"])
    )
    assert len(architectures) == 1
    return str(architectures[0])


def built_artifacts(template: dict[str, Any]) -> dict[str, str]:
    """Build directory name (the logical id) -> declared architecture, for every built resource."""
    built_types = {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}
    return {
        name: declared_architecture(resource, template)
        for name, resource in template["Resources"].items()
        if resource["Type"] in built_types
    }


@pytest.fixture(scope="module")
def build_dir() -> Path:
    if not BUILD_DIR.is_dir():
        pytest.fail(f"no sam build output at {BUILD_DIR}: run `make template-checks` (it builds first)")
    return BUILD_DIR


def test_elf_reader_tells_architectures_apart(tmp_path: Path) -> None:
    # Given minimal ELF headers for both machines and a non-ELF file
    for arch, machine in ELF_MACHINE.items():
        header = ELF_MAGIC + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HH", 3, machine)
        (tmp_path / f"{arch}.so").write_bytes(header)
    (tmp_path / "text.so").write_bytes(b"not an elf file at all")
    # When their e_machine is read
    # Then each is recognised, and the non-ELF file is not mistaken for one
    assert elf_machine(tmp_path / "arm64.so") == 183
    assert elf_machine(tmp_path / "x86_64.so") == 62
    assert elf_machine(tmp_path / "text.so") is None


def test_every_built_resource_has_a_build_directory(template: dict[str, Any], build_dir: Path) -> None:
    # Given the resources SAM builds
    expected = built_artifacts(template)
    # Then each has its directory in the build output
    missing = sorted(name for name in expected if not (build_dir / name).is_dir())
    assert not missing, f"not built: {missing}"


def test_layer_carries_its_compiled_dependencies(build_dir: Path) -> None:
    # Given the built layers
    layer = build_dir / "CommonLayer" / "python"
    identity = build_dir / "IdentityLayer" / "python"
    # Then the dependencies are installed where Lambda looks (/opt/python) ...
    assert (layer / "huaweicloudsdkcore").is_dir()
    assert (layer / "aws_lambda_powertools").is_dir()
    assert (identity / "jwt").is_dir()
    # ... and there are compiled extensions to check, so the architecture test below is not vacuous
    assert any(is_shared_object(path) for path in layer.rglob("*"))
    assert any(is_shared_object(path) for path in identity.rglob("*"))


def test_every_shared_object_matches_the_declared_architecture(template: dict[str, Any], build_dir: Path) -> None:
    # Given every build directory and the architecture the template declares for it
    wrong: list[str] = []
    checked = 0
    for name, arch in built_artifacts(template).items():
        expected_machine = ELF_MACHINE[arch]
        # When every shared object in it is read
        for path in sorted((build_dir / name).rglob("*")):
            if not is_shared_object(path):
                continue
            machine = elf_machine(path)
            checked += 1
            relative = path.relative_to(build_dir)
            # Then it is an ELF file for that machine ...
            if machine != expected_machine:
                found = MACHINE_NAMES.get(machine, repr(machine)) if machine is not None else "not ELF"
                wrong.append(f"{relative}: {found}, expected {arch}")
            # ... and a CPython extension is built for CPython 3.12
            elif ".cpython-" in path.name and CPYTHON_TAG not in path.name:
                wrong.append(f"{relative}: built for another Python, expected {CPYTHON_TAG}")
    assert checked > 0
    assert not wrong, "wrong-architecture binaries in the build output:\n" + "\n".join(wrong)


# ------------------------------------------------------------------ the common layer's contents

# What the common layer may hold (top-level names, without their .dist-info): taskwatch, Powertools, PyYAML
# (taskwatch.domain.drift), huaweicloudsdkcore and what its Signer imports at module level.
COMMON_LAYER_PACKAGES = {
    "taskwatch",
    "aws_lambda_powertools",
    "typing_extensions",
    "yaml",
    "_yaml",
    "huaweicloudsdkcore",
    "pyasn1",
}
# Never in it: what the Lambda runtime provides, huaweicloudsdkcore's unused dependencies, the X-Ray SDK,
# and the webhook's identity packages (their own layer).
NOT_IN_COMMON_LAYER = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
    "pymongo",
    "bson",
    "gridfs",
    "dns",
    "simplejson",
    "requests_toolbelt",
    "requests",
    "certifi",
    "defusedxml",
    "aws_xray_sdk",
    "wrapt",
    "jwt",
    "cryptography",
}
IDENTITY_LAYER_PACKAGES = {"jwt", "cryptography", "cffi", "_cffi_backend", "pycparser"}
MAX_COMMON_LAYER_BYTES = 8 * 1024 * 1024
# The python3.12 runtime's own packages (/var/runtime), taken from the interpreter running the tests.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def top_level_names(directory: Path) -> set[str]:
    names = set()
    for entry in directory.iterdir():
        if entry.name.endswith((".dist-info", ".data")):
            continue
        names.add(entry.name.split(".")[0] if entry.is_file() else entry.name)
    return names


def tree_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def common_layer(build_dir: Path) -> Path:
    return build_dir / "CommonLayer" / "python"


@pytest.fixture(scope="module")
def runtime_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only the runtime-provided packages, linked from the test interpreter's own."""
    target = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"the test interpreter has no {name}"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return target


def run_isolated(code: str, *path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter that sees the standard library and `path` only (-S: no site-packages)."""
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        # No bytecode written into the build output, which the size check reads (Lambda's /opt is read-only too).
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(map(str, path)),
            "PYTHONDONTWRITEBYTECODE": "1",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_common_layer_holds_only_what_the_functions_import(common_layer: Path) -> None:
    # Given the built common layer's top-level packages
    names = top_level_names(common_layer)
    # Then nothing the runtime provides, nothing the signer does not use, no X-Ray SDK, no PyJWT ...
    assert not names & NOT_IN_COMMON_LAYER, sorted(names & NOT_IN_COMMON_LAYER)
    # ... and nothing beyond the known list (a new dependency is a decision, so it is named here)
    assert names <= COMMON_LAYER_PACKAGES, f"unexpected in the layer: {sorted(names - COMMON_LAYER_PACKAGES)}"
    # And PyYAML stays, for the export-drift feature
    assert {"yaml", "huaweicloudsdkcore", "taskwatch"} <= names


def test_common_layer_is_at_most_8_mb_unpacked(common_layer: Path) -> None:
    # Given every file of the built layer (as Lambda unpacks it under /opt)
    size = tree_bytes(common_layer.parent)
    # Then it is at most 8 MiB, and carries no bytecode compiled by the build machine
    assert size <= MAX_COMMON_LAYER_BYTES, f"{size / 1024 / 1024:.2f} MiB"
    assert not list(common_layer.rglob("__pycache__"))
    assert not (common_layer / "bin").exists()


def test_identity_layer_holds_pyjwt_and_its_crypto_backend(build_dir: Path) -> None:
    # Given the webhook's second layer
    names = top_level_names(build_dir / "IdentityLayer" / "python")
    # Then it is PyJWT with cryptography (and cffi), and nothing of the common layer or the runtime
    assert {"jwt", "cryptography"} <= names <= IDENTITY_LAYER_PACKAGES, sorted(names)


def test_built_layer_alone_signs_an_apig_request(common_layer: Path, runtime_stand_in: Path) -> None:
    # Given an interpreter that sees only the standard library, the built layer and the runtime's packages.
    # Everything the signer imports is pure Python (PyYAML's extension is not imported), so the arm64 layer
    # runs here whatever this machine is; the child also reports any compiled module it loaded, which must
    # be none from the layer.
    code = """
import json, sys
from taskwatch.adapters.apig import _signed_headers  # the adapter itself, as the poller signs
from taskwatch.domain.credentials import HuaweiCredentials

headers = _signed_headers(HuaweiCredentials(ak="AKTESTLAYER", sk="sk-test-layer"), "https",
    "apig.cn-north-4.myhuaweicloud.com", "/v2/p1/apigw/instances/i1/async-tasks/t1", "p1")
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
print(json.dumps({"headers": headers, "files": files, "requests": "requests" in sys.modules}))
"""
    # When the poller's APIG adapter signs a GET of an async task (huaweicloudsdkcore's Signer)
    done = run_isolated(code, common_layer, runtime_stand_in)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    # Then the signature is a valid SDK-HMAC-SHA256 one (checked by the APIG emulator's verifier) ...
    auth = signing.verify(
        method="GET",
        path="/v2/p1/apigw/instances/i1/async-tasks/t1",
        query="",
        headers={**headers, "host": "apig.cn-north-4.myhuaweicloud.com"},
        body=b"",
        secrets={"AKTESTLAYER": "sk-test-layer"},
        now=signing.parse_sdk_date(headers["x-sdk-date"]),
    )
    assert auth.access_key == "AKTESTLAYER" and headers["x-project-id"] == "p1"
    assert answer["requests"] is False
    # ... and every module came from the layer, the runtime's packages or the standard library
    # (the stand-in's packages are symbolic links, so paths are compared as the child saw them)
    roots = [common_layer.absolute(), runtime_stand_in.absolute(), Path(os.__file__).parent, Path(sys.base_prefix)]
    strays = [f for f in answer["files"] if f and not any(Path(f).absolute().is_relative_to(r) for r in roots)]
    assert not strays, strays[:5]
    compiled = [f for f in answer["files"] if is_shared_object(Path(f)) and Path(f).is_relative_to(common_layer)]
    assert not compiled, compiled


@pytest.mark.parametrize("handler", ["poller", "webhook"])
def test_handlers_import_from_the_built_layer_and_runtime_alone(
    common_layer: Path, runtime_stand_in: Path, handler: str
) -> None:
    # Given an interpreter that sees only the standard library, the built layer and the runtime's packages
    app = REPO_ROOT / "functions" / handler / "app.py"
    code = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("app", {str(app)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
"""
    # When Lambda's import of the handler file is done there
    done = run_isolated(code, common_layer, runtime_stand_in, env={"POWERTOOLS_METRICS_NAMESPACE": "Test"})
    # Then it succeeds: the layer lacks nothing the handler imports at cold start
    assert done.returncode == 0, done.stderr[-3000:]
