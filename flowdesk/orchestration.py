"""The API's one door to Prefect: create, inspect and cancel flow runs of deployments.

Every call has a deadline; an unreachable or failing Prefect API becomes
`ServiceUnavailable` (503) with the reason, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.states import Cancelling

from flowdesk.db.models import RunStatus
from flowdesk.errors import ServiceUnavailable

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Prefect's terminal states and the run status each one means.
TERMINAL: dict[StateType, RunStatus] = {
    StateType.COMPLETED: RunStatus.COMPLETED,
    StateType.FAILED: RunStatus.FAILED,
    StateType.CANCELLED: RunStatus.CANCELLED,
    StateType.CRASHED: RunStatus.CRASHED,
}


@dataclass(frozen=True)
class FlowRunState:
    type: StateType
    name: str
    message: str | None

    @property
    def run_status(self) -> RunStatus | None:
        """The terminal run status this state means, or None while the run is open."""
        return TERMINAL.get(self.type)


class PrefectGateway:
    """A long-lived Prefect client with deadlines and deployment-id caching."""

    def __init__(self, client: PrefectClient, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._deployment_ids: dict[str, uuid.UUID] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.api_url = str(client.api_url)

    def in_background(self, what: str, work: Coroutine[Any, Any, None]) -> None:
        """Go on with Prefect work after the request has answered; failures are logged.

        The gateway holds the task until it ends and cancels it when the process stops.
        """

        async def guarded() -> None:
            try:
                await work
            except Exception:
                logger.exception("background Prefect work failed: %s", what)

        task = asyncio.get_running_loop().create_task(guarded(), name=what)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Cancel the background work still pending."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def call(self, what: str, awaitable: Awaitable[T]) -> T:
        """Await a Prefect call under the deadline; failures become ServiceUnavailable."""
        try:
            with anyio.fail_after(self._timeout):
                return await awaitable
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"Prefect API at {self.api_url} did not answer {what} within {self._timeout:g} s"
            ) from exc
        except (httpx.TransportError, OSError) as exc:
            raise ServiceUnavailable(
                f"Prefect API at {self.api_url} is unreachable ({what}): "
                f"{exc or type(exc).__name__}"
            ) from exc
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code >= 500:
                raise ServiceUnavailable(
                    f"Prefect API at {self.api_url} failed {what}: HTTP {exc.response.status_code}"
                ) from exc
            raise

    async def healthcheck(self) -> str | None:
        """None when the Prefect API answers, else the reason it does not."""
        try:
            with anyio.fail_after(min(self._timeout, 3.0)):
                error = await self._client.api_healthcheck()
        except TimeoutError:
            return f"Prefect API at {self.api_url} did not answer within 3 s"
        return None if error is None else f"Prefect API at {self.api_url}: {error}"

    async def deployment_id(self, name: str) -> uuid.UUID:
        """The id of deployment `flow/deployment`, cached for the process."""
        if name not in self._deployment_ids:
            try:
                deployment = await self.call(
                    f"reading deployment {name}", self._client.read_deployment_by_name(name)
                )
            except ObjectNotFound as exc:
                raise ServiceUnavailable(
                    f"Prefect has no deployment {name!r}: run `flowdesk up` (or `prefect deploy "
                    "--all` in the project directory) to apply prefect.yaml"
                ) from exc
            self._deployment_ids[name] = deployment.id
        return self._deployment_ids[name]

    async def create_flow_run(
        self,
        deployment: str,
        *,
        parameters: dict[str, Any],
        idempotency_key: str,
        work_queue: str,
        tags: list[str],
        name: str | None = None,
    ) -> FlowRun:
        """A flow run of `deployment`; the same idempotency key returns the same run."""

        async def create(deployment_id: uuid.UUID) -> FlowRun:
            return await self.call(
                f"creating a flow run of {deployment}",
                self._client.create_flow_run_from_deployment(
                    deployment_id,
                    parameters=parameters,
                    idempotency_key=idempotency_key,
                    work_queue_name=work_queue,
                    tags=tags,
                    name=name,
                ),
            )

        try:
            return await create(await self.deployment_id(deployment))
        except ObjectNotFound:
            # The deployment was re-created under a new id: look it up again, once.
            self._deployment_ids.pop(deployment, None)
            return await create(await self.deployment_id(deployment))

    async def flow_run_state(self, flow_run_id: uuid.UUID) -> FlowRunState | None:
        """The flow run's current state, or None if Prefect does not know the run."""
        try:
            flow_run = await self.call(
                "reading a flow run", self._client.read_flow_run(flow_run_id)
            )
        except ObjectNotFound:
            return None
        state = flow_run.state
        if state is None:
            return None
        return FlowRunState(
            type=state.type, name=state.name or state.type.value, message=state.message
        )

    async def cancel(self, flow_run_id: uuid.UUID) -> FlowRunState | None:
        """Ask Prefect to cancel: a scheduled run becomes Cancelled, a running one is killed."""
        await self.call(
            "cancelling a flow run",
            self._client.set_flow_run_state(
                flow_run_id, Cancelling(message="Cancelled through the flowdesk API")
            ),
        )
        return await self.flow_run_state(flow_run_id)

    @property
    def client(self) -> PrefectClient:
        return self._client


@asynccontextmanager
async def open_gateway(api_url: str, timeout: float) -> AsyncIterator[PrefectGateway]:
    """A gateway for the life of a process (the API's lifespan)."""
    client = PrefectClient(api_url, httpx_settings={"timeout": httpx.Timeout(timeout)})
    async with client:
        gateway = PrefectGateway(client, timeout)
        try:
            yield gateway
        finally:
            await gateway.close()
