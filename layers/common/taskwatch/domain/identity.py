"""Who may start and read a watch: the operator (shared key) or a CI job (an OpenID Connect token).

A CI job's token is trusted when one rule of `OIDC_TRUST` names its issuer and audience and every
claim pattern of the rule matches (`*` is the only wildcard). What the token says about the job is
kept with the watch as its `caller`; a token may then read only the watches of its own repository
(GitHub) or project (GitLab), so one team's pipelines never see another's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from taskwatch.domain.errors import TaskwatchError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Copied from a GitHub or GitLab token into the watch's `caller` (never the token itself).
GITHUB_CALLER_CLAIMS = ("repository", "repository_owner_id", "workflow_ref", "run_id")
GITLAB_CALLER_CLAIMS = ("project_path", "pipeline_id")
_CLAIM_VALUE_MAX = 256


class TrustConfigError(TaskwatchError, ValueError):
    """OIDC_TRUST is not a list of valid rules."""


@dataclass(frozen=True)
class TrustRule:
    issuer: str
    audience: str
    claims: Mapping[str, str] = field(default_factory=dict)

    def accepts(self, claims: Mapping[str, Any]) -> bool:
        """Every listed claim is present, a string or number, and matches its pattern."""
        for name, pattern in self.claims.items():
            value = claims.get(name)
            if isinstance(value, bool) or not isinstance(value, str | int):
                return False
            if not glob_match(pattern, str(value)):
                return False
        return True


def glob_match(pattern: str, value: str) -> bool:
    """`*` matches any run of characters (slashes included); everything else is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def issuer_allowed(issuer: str) -> bool:
    """Issuers are https, except loopback hosts (local runs and tests)."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def parse_trust(text: str | None) -> tuple[TrustRule, ...]:
    """OIDC_TRUST as rules; empty when unset (OIDC off). Raises TrustConfigError naming every problem."""
    if not text or not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError:
        raise TrustConfigError("OIDC_TRUST is not JSON") from None
    if not isinstance(raw, list):
        raise TrustConfigError("OIDC_TRUST must be a JSON list of rules")
    rules, problems = [], []
    for index, item in enumerate(raw):
        where = f"OIDC_TRUST[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        issuer, audience, claims = item.get("issuer"), item.get("audience"), item.get("claims", {})
        if not isinstance(issuer, str) or not issuer_allowed(issuer):
            problems.append(f"{where}.issuer: must be an https URL (http only for loopback hosts)")
        if not isinstance(audience, str) or not audience:
            problems.append(f"{where}.audience: must be a non-empty string")
        if not isinstance(claims, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in claims.items()
        ):
            problems.append(f"{where}.claims: must map claim names to string patterns")
        unknown = sorted(set(item) - {"issuer", "audience", "claims"})
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        if not problems:
            rules.append(TrustRule(str(issuer).rstrip("/"), str(audience), dict(claims)))
    if problems:
        raise TrustConfigError("; ".join(problems))
    return tuple(rules)


@dataclass(frozen=True)
class Caller:
    """The CI job that started a watch, as its token described it."""

    issuer: str
    subject: str
    details: Mapping[str, str] = field(default_factory=dict)  # repository / project_path, run, ...

    @property
    def scope(self) -> str | None:
        """What isolates watches: the GitHub repository or the GitLab project path."""
        return self.details.get("repository") or self.details.get("project_path")

    def as_dict(self) -> dict[str, str]:
        return {"issuer": self.issuer, "subject": self.subject, **self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Caller:
        details = {k: str(v) for k, v in data.items() if k not in ("issuer", "subject")}
        return cls(str(data.get("issuer", "")), str(data.get("subject", "")), details)

    @classmethod
    def from_claims(cls, issuer: str, claims: Mapping[str, Any]) -> Caller:
        details = {}
        for name in (*GITHUB_CALLER_CLAIMS, *GITLAB_CALLER_CLAIMS):
            value = claims.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool):
                details[name] = str(value)[:_CLAIM_VALUE_MAX]
        return cls(issuer, str(claims.get("sub", ""))[:_CLAIM_VALUE_MAX], details)

    def may_read(self, owner: Mapping[str, Any] | None) -> bool:
        """A token reads only watches started by a token of the same issuer and repository / project."""
        if owner is None or self.scope is None:
            return False
        other = Caller.from_dict(owner)
        return other.issuer == self.issuer and other.scope == self.scope


@dataclass(frozen=True)
class Operator:
    """Whoever holds the shared webhook key: may read every watch."""


type Principal = Operator | Caller
