"""A CI system's OpenID Connect issuer on 127.0.0.1: a discovery document, a key set, and tokens shaped
like GitHub Actions' and GitLab CI's, signed with keys generated at start. Tests and the demo use it so
CI identity is exercised end to end without any network beyond loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "apig-taskwatch"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def new_key(algorithm: str = "RS256") -> SigningKey:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid=uuid.uuid4().hex[:16], algorithm=algorithm, private=private)


class LocalOidcIssuer:
    """`with LocalOidcIssuer() as issuer:` serves `{issuer.url}/.well-known/openid-configuration`."""

    def __init__(self) -> None:
        self.keys = [new_key("RS256"), new_key("ES256")]
        self.key_set_reads = 0
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def __enter__(self) -> LocalOidcIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body: dict[str, Any]
                if self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }
                elif self.path == "/jwks":
                    issuer.key_set_reads += 1
                    body = {"keys": [key.public_jwk() for key in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def rotate(self) -> SigningKey:
        """A new signing key, published from now on (the old ones stay, as issuers do)."""
        key = new_key()
        self.keys.append(key)
        return key

    def trust_rule(self, **claims: str) -> dict[str, Any]:
        """An OIDC_TRUST rule for this issuer and the usual audience."""
        return {"issuer": self.url, "audience": AUDIENCE, "claims": claims}

    def mint(
        self,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        lifetime: float = 300.0,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid, **(headers or {})})

    def github_token(self, repository: str = "acme/petstore-api", *, owner_id: str = "1234567", **claims: Any) -> str:
        """Claims as GitHub Actions sends them for a job of `repository`."""
        owner = repository.split("/", maxsplit=1)[0]
        return self.mint(
            {
                "sub": f"repo:{repository}:ref:refs/heads/main",
                "repository": repository,
                "repository_owner": owner,
                "repository_owner_id": owner_id,
                "ref": "refs/heads/main",
                "workflow_ref": f"{repository}/.github/workflows/publish.yml@refs/heads/main",
                "job_workflow_ref": f"{repository}/.github/workflows/publish.yml@refs/heads/main",
                "run_id": "9876543210",
                "event_name": "push",
                **claims,
            }
        )

    def gitlab_token(self, project_path: str = "acme/orders-api", **claims: Any) -> str:
        """Claims as GitLab CI sends them (`id_tokens:`) for a job of `project_path`."""
        namespace = project_path.rsplit("/", 1)[0]
        return self.mint(
            {
                "sub": f"project_path:{project_path}:ref_type:branch:ref:main",
                "project_path": project_path,
                "namespace_path": namespace,
                "namespace_id": "42",
                "ref": "main",
                "ref_type": "branch",
                "pipeline_id": "1234",
                "pipeline_source": "push",
                **claims,
            }
        )
