"""The `flowdesk` work pool's job template: what a deployment can set per flow run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from prefect.utilities.processutils import command_to_string, get_sys_executable
from prefect.workers.base import BaseJobConfiguration, BaseVariables
from pydantic import Field

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.schemas.objects import Flow as APIFlow
    from prefect.client.schemas.objects import FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse

Isolation = Literal["warm", "process"]

ISOLATION_HELP = (
    "warm: the flow run is forked from a process that has already imported Prefect and "
    "the flows (about a second saved per run); process: a fresh interpreter runs "
    "`python -m prefect.engine`, for jobs that must not share anything with the worker."
)


class FlowdeskJobConfiguration(BaseJobConfiguration):
    isolation: Isolation = Field(default="warm")
    stream_output: bool = Field(default=True)
    working_dir: Path | None = Field(default=None)

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

    @staticmethod
    def _base_flow_run_command() -> str:
        """For `isolation: process`: the engine itself, from the worker's interpreter (not
        `prefect flow-run execute`, a supervisor interpreter that then starts the engine)."""
        return command_to_string([get_sys_executable(), "-m", "prefect.engine"])


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
