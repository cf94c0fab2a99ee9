"""The artifacts of `sam build` hold only compiled code for the architecture they will run on.

pip falls back to a source build (which compiles for *this* machine) when a dependency has no
wheel for the target platform; Lambda would then fail at import time with "invalid ELF header".
The ELF header of every shared object in .aws-sam/build is read here and compared with the
architecture the template declares for that build directory.

Runs after `sam build` (see .ci/template-checks.sh). Without a build directory it fails;
`make test` leaves this module to `make template-checks`, which builds first.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

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
    # Given the built layer
    layer = build_dir / "CommonLayer" / "python"
    # Then the dependencies are installed where Lambda looks (/opt/python) ...
    assert (layer / "huaweicloudsdkcore").is_dir()
    assert (layer / "aws_lambda_powertools").is_dir()
    # ... and there are compiled extensions to check, so the architecture test below is not vacuous
    assert any(is_shared_object(path) for path in layer.rglob("*"))


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
