"""A small receiver for apig-taskwatch's outcome callbacks: verify the signature, then wake the CI.

Run it wherever your CI can be reached from (a container, a small VM, a function behind a URL):

    TASKWATCH_WEBHOOK_KEY=whsec_...        # the same key the service signs with
    FORWARD_TO=github                      # or gitlab
    # GitHub: a repository_dispatch event ("apig-task-finished") on this repository
    GITHUB_REPOSITORY=my-org/petstore-api  GITHUB_TOKEN=<a token allowed to dispatch>
    # GitLab: a pipeline trigger on this project and ref
    GITLAB_PROJECT_ID=1234  GITLAB_TRIGGER_TOKEN=<trigger token>  GITLAB_REF=main
    python callback_receiver.py --port 8080

Needs only the standard library and the Standard Webhooks library (`pip install standardwebhooks`).
Callbacks are retried for a day with the same `webhook-id` ({task_id}.{outcome}); this receiver
answers 2xx once it has forwarded one, and remembers the ids it forwarded so a retry does not start
a second CI run.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 512 * 1024


def forward(document: dict[str, Any], env: dict[str, str]) -> None:
    """Turn the outcome into a CI event: a repository_dispatch on GitHub, a pipeline trigger on GitLab."""
    if env.get("FORWARD_TO", "github") == "gitlab":
        api = env.get("GITLAB_API_URL", "https://gitlab.com/api/v4")
        fields = {
            "token": env["GITLAB_TRIGGER_TOKEN"],
            "ref": env.get("GITLAB_REF", "main"),
            "variables[APIG_TASK_ID]": document["task_id"],
            "variables[APIG_OUTCOME]": document["outcome"],
        }
        data = urllib.parse.urlencode(fields).encode()
        url = f"{api}/projects/{env['GITLAB_PROJECT_ID']}/trigger/pipeline"
        request = urllib.request.Request(url, data=data)  # noqa: S310 - the CI's own API
    else:
        api = env.get("GITHUB_API_URL", "https://api.github.com")
        payload = {"event_type": "apig-task-finished", "client_payload": document}
        request = urllib.request.Request(  # noqa: S310 - the CI's own API
            f"{api}/repos/{env['GITHUB_REPOSITORY']}/dispatches",
            data=json.dumps(payload).encode(),
            headers={
                "Authorization": f"Bearer {env['GITHUB_TOKEN']}",
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
            },
        )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the CI's own API
        answer.read()


def make_server(port: int, env: dict[str, str]) -> ThreadingHTTPServer:
    webhook = Webhook(env["TASKWATCH_WEBHOOK_KEY"])
    forwarded: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_BODY:
                return self._answer(413)
            body = self.rfile.read(length).decode("utf-8")
            try:
                document = webhook.verify(body, {k.lower(): v for k, v in self.headers.items()})
            except WebhookVerificationError:
                return self._answer(401)
            message_id = self.headers["webhook-id"]
            if message_id not in forwarded:
                try:
                    forward(document, env)
                except OSError:
                    return self._answer(502)  # the CI is down: taskwatch retries later, same webhook-id
                forwarded.add(message_id)
            return self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - a receiver listens for the service


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    make_server(parser.parse_args().port, dict(os.environ)).serve_forever()
