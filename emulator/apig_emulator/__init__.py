"""A local emulator of Huawei Cloud API Gateway's async import/export task API (standard library only)."""

from __future__ import annotations

from .answers import ScriptedAnswer
from .emulator import ApigEmulator
from .recording import RecordedRequest

# The old name, kept only until the callers outside emulator/ (bench, integration tests) are renamed.
Step = ScriptedAnswer

__all__ = ["ApigEmulator", "RecordedRequest", "ScriptedAnswer", "Step"]
