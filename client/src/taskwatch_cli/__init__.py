"""taskwatch-cli: start Huawei Cloud APIG async imports/exports from CI and wait for their outcome."""

__version__ = "0.2.0"
