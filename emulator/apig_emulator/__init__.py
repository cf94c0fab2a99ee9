"""A local emulator of Huawei Cloud API Gateway's async import/export task API (standard library only)."""

from .server import ApigEmulator, RecordedRequest
from .steps import Step

__all__ = ["ApigEmulator", "RecordedRequest", "Step"]
