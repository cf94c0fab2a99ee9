"""Starting APIG async tasks from the local tooling (demo, `taskwatch local create-task`, tests).

A thin face over the client's own starter (taskwatch_cli.apig): the same signed requests CI sends.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from taskwatch.domain.credentials import HuaweiCredentials
from taskwatch_cli.apig import ApigStarter, StartRequest, export_request, import_request
from taskwatch_cli.errors import CliError
from taskwatch_cli.http import RetryPolicy

RELEASE_ENV_ID = "DEFAULT_ENVIRONMENT_RELEASE_ID"


class ApigRequestFailed(Exception):
    """APIG refused to start the task (or could not be reached)."""


def _stderr(message: str) -> None:
    sys.stderr.write(f"taskwatch: {message}\n")


@dataclass(frozen=True)
class ApigTasks:
    endpoint: str
    ak: str
    sk: str
    project_id: str
    instance_id: str
    timeout: float = 10.0

    def _starter(self) -> ApigStarter:
        credentials = HuaweiCredentials(ak=self.ak, sk=self.sk)
        policy = RetryPolicy(attempts=3, base_delay=0.2)
        return ApigStarter(
            self.endpoint,
            credentials,
            self.project_id,
            self.instance_id,
            say=_stderr,
            policy=policy,
            timeout=self.timeout,
        )

    def start_export(self, group_id: str, *, file_type: str = "json", define: str = "all") -> str:
        """POST async-export of the group's release environment; returns the new task id."""
        request = export_request(
            self.project_id,
            self.instance_id,
            env_id=RELEASE_ENV_ID,
            group_id=group_id,
            define=define,
            file_type=file_type,
        )
        return self._start(request)

    def start_import(self, swagger: str, *, file_name: str = "swagger.json") -> str:
        """POST async-import of `swagger` into a new group; returns the new task id."""
        request = import_request(
            self.project_id, self.instance_id, swagger.encode("utf-8"), file_name=file_name, create_group=True
        )
        return self._start(request)

    def _start(self, request: StartRequest) -> str:
        try:
            return self._starter().start(request)
        except CliError as error:
            raise ApigRequestFailed(str(error)) from None
