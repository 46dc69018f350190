"""The `flowdesk` work pool's job template: what a deployment can set per flow run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prefect.settings import get_current_settings
from prefect.utilities.processutils import command_to_string, get_sys_executable
from prefect.workers.base import BaseJobConfiguration, BaseVariables
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.schemas.objects import Flow as APIFlow
    from prefect.client.schemas.objects import FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse

Isolation = Literal["warm", "fork", "process"]

ISOLATION_HELP = (
    "warm: the flow run executes in a warm process that has already imported Prefect and "
    "the flows and runs one flow run at a time (the fastest: about 0.1 CPU-s of overhead "
    "per run); fork: a fresh fork of such a process per run, so nothing a run leaves in "
    "memory reaches another (about 0.3 CPU-s); process: a fresh interpreter runs "
    "`python -m prefect.engine`, for jobs that must not share anything with the worker."
)


# The step `prefect deploy` infers for code that is already on the machine.
SET_WORKING_DIRECTORY = {
    "prefect.deployments.steps.set_working_directory",
    "prefect.deployments.steps.pull.set_working_directory",
}


@dataclass
class _Memo:
    settings: object = None
    env: dict[str, str] = field(default_factory=dict)


_BASE_ENVIRONMENT = _Memo()


class FlowdeskJobConfiguration(BaseJobConfiguration):
    isolation: Isolation = Field(default="warm")
    stream_output: bool = Field(default=True)
    working_dir: Path | None = Field(default=None)

    # Set when the deployment's code is a local directory: a warm run then loads the
    # entrypoint from there itself, instead of reading the deployment and running its
    # pull step again in the child (one API call and about 0.2 s per run).
    _code_directory: Path | None = PrivateAttr(default=None)
    _entrypoint: str | None = PrivateAttr(default=None)
    _deployment: DeploymentResponse | None = PrivateAttr(default=None)

    @property
    def deployment(self) -> DeploymentResponse | None:
        """The run's deployment as the worker read it (a warm run starts with it)."""
        return self._deployment

    @property
    def local_code(self) -> tuple[Path, str] | None:
        """The directory and entrypoint of a deployment whose code is local, else None."""
        if self._code_directory is None or self._entrypoint is None:
            return None
        return self._code_directory, self._entrypoint

    def prepare_for_flow_run(
        self,
        flow_run: FlowRun,
        deployment: DeploymentResponse | None = None,
        flow: APIFlow | None = None,
        work_pool: WorkPool | None = None,
        worker_name: str | None = None,
        worker_id: UUID | None = None,
    ) -> None:
        super().prepare_for_flow_run(
            flow_run, deployment, flow, work_pool, worker_name, worker_id=worker_id
        )
        self.env = {**os.environ, **self.env}
        self._deployment = deployment
        if deployment is not None and deployment.entrypoint:
            self._code_directory = local_code_directory(deployment.pull_steps)
            self._entrypoint = deployment.entrypoint

    @classmethod
    def _base_environment(cls) -> dict[str, str]:
        """Prefect's (every setting set, as variables), worked out once per settings
        object: serialising the settings took the worker about 40 ms of CPU per run."""
        settings = get_current_settings()
        if _BASE_ENVIRONMENT.settings is not settings:
            _BASE_ENVIRONMENT.settings = settings
            _BASE_ENVIRONMENT.env = super()._base_environment()
        return dict(_BASE_ENVIRONMENT.env)

    @staticmethod
    def _base_flow_run_command() -> str:
        """For `isolation: process`: the engine itself, from the worker's interpreter (not
        `prefect flow-run execute`, a supervisor interpreter that then starts the engine)."""
        return command_to_string([get_sys_executable(), "-m", "prefect.engine"])


def local_code_directory(pull_steps: list[dict[str, Any]] | None) -> Path | None:
    """The directory of a deployment whose only pull step is `set_working_directory` to a
    fixed path; None for any other way of getting the code (git, storage blocks, ...)."""
    if not pull_steps or len(pull_steps) != 1 or len(pull_steps[0]) != 1:
        return None
    ((step, arguments),) = pull_steps[0].items()
    directory = arguments.get("directory") if isinstance(arguments, dict) else None
    if step not in SET_WORKING_DIRECTORY or not isinstance(directory, str):
        return None
    if "{{" in directory or "$" in directory:  # templated: resolved by the step only
        return None
    return Path(directory)


class FlowdeskVariables(BaseVariables):
    isolation: Isolation = Field(default="warm", description=ISOLATION_HELP)
    stream_output: bool = Field(
        default=True, description="Relay the flow run's output to the worker's output."
    )
    working_dir: Path | None = Field(
        default=None,
        title="Working Directory",
        description="Where the flow run starts; the deployment's pull steps may move it.",
    )
