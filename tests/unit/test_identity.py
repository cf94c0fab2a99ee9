"""Trust rules and callers: which CI job may do what (pure)."""

from __future__ import annotations

import json

import pytest

from taskwatch.config import ConfigError, Settings
from taskwatch.domain.identity import Caller, TrustConfigError, TrustRule, glob_match, issuer_allowed, parse_trust

GITHUB = "https://token.actions.githubusercontent.com"


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("my-org/*", "my-org/api", True),
        ("my-org/*", "my-org-evil/api", False),
        ("refs/heads/main", "refs/heads/main", True),
        ("refs/heads/main", "refs/heads/main2", False),
        ("my-org/.github/workflows/deploy.yml@*", "my-org/.github/workflows/deploy.yml@refs/tags/v1", True),
        ("a.c", "abc", False),  # only * is special
        ("[ab]", "a", False),
        ("*", "", True),
    ],
)
def test_claim_patterns_use_star_as_the_only_wildcard(pattern: str, value: str, matches: bool) -> None:
    assert glob_match(pattern, value) is matches


def test_every_listed_claim_must_match() -> None:
    rule = TrustRule(GITHUB, "apig-taskwatch", {"repository_owner_id": "123", "repository": "org/*"})
    assert rule.accepts({"repository_owner_id": "123", "repository": "org/api"})
    assert not rule.accepts({"repository_owner_id": "999", "repository": "org/api"})
    assert not rule.accepts({"repository": "org/api"})  # a missing claim never matches
    assert not rule.accepts({"repository_owner_id": True, "repository": "org/api"})


@pytest.mark.parametrize(
    ("issuer", "allowed"),
    [
        (GITHUB, True),
        ("https://gitlab.example.com", True),
        ("http://gitlab.example.com", False),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:9000", True),
        ("http://169.254.169.254", False),
        ("file:///etc/passwd", False),
    ],
)
def test_issuers_are_https_except_on_loopback(issuer: str, allowed: bool) -> None:
    assert issuer_allowed(issuer) is allowed


def test_trust_rules_are_read_from_json() -> None:
    rules = parse_trust(json.dumps([{"issuer": GITHUB + "/", "audience": "a", "claims": {"repository": "o/*"}}]))
    assert rules == (TrustRule(GITHUB, "a", {"repository": "o/*"}),)
    assert parse_trust(None) == () and parse_trust("  ") == ()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '[{"issuer": "http://evil.example", "audience": "a"}]',
        '[{"issuer": "https://x", "audience": ""}]',
        '[{"issuer": "https://x", "audience": "a", "claims": {"n": 1}}]',
        '[{"issuer": "https://x", "audience": "a", "claim": {}}]',
    ],
)
def test_bad_trust_rules_stop_the_function_at_configuration(text: str) -> None:
    with pytest.raises(TrustConfigError):
        parse_trust(text)
    with pytest.raises(ConfigError, match="OIDC_TRUST"):
        Settings.from_env({"TASK_QUEUE_URL": "q", "TASK_TABLE": "t", "OIDC_TRUST": text})


def test_a_token_reads_only_its_own_repository_or_project() -> None:
    a = Caller.from_claims(GITHUB, {"sub": "repo:o/a", "repository": "o/a", "run_id": 7})
    b = Caller.from_claims(GITHUB, {"sub": "repo:o/b", "repository": "o/b"})
    gitlab = Caller.from_claims("https://gitlab.com", {"sub": "p", "project_path": "o/a"})
    assert a.may_read(a.as_dict()) and not a.may_read(b.as_dict())
    assert not gitlab.may_read(a.as_dict())  # same path, another issuer
    assert not a.may_read(None)  # a watch the operator or the queue started
    assert a.as_dict() == {"issuer": GITHUB, "subject": "repo:o/a", "repository": "o/a", "run_id": "7"}
