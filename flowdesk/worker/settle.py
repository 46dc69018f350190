"""A flow run whose engine ended in `Cancelling`: finish the cancellation where it ran.

Prefect sets a running flow run `Cancelling` at once; its worker hears of it a moment
later, from an event, and stops the run. When the run proposes its final state in
between, the server answers `Cancelling` and the engine ends there ("Finished in state
Cancelling") without reporting a conclusion; by the time the event arrives the worker
no longer watches the run, so nothing would ever make it `Cancelled` or run its
`on_cancellation` hooks (flowdesk's row would stay `running`). Measured here: one cancel
in 40, sent right as a 0.1 s screener run finished.

The process that ran the engine does what the worker would have done: the flow's
cancellation hooks, then `Cancelled` (Prefect's own hook runner and finaliser). It reads
the flow run only when the engine reported no conclusion, which a normal end never does.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any


def concluded() -> bool:
    """Whether the engine reported a final (or paused) state for the current attempt."""
    from prefect._internal import control_listener

    return control_listener.engine_outcome_is_handled()


async def settle_cancelling(flow: Any, flow_run_id: uuid.UUID) -> bool:
    """Finish the cancellation of a run left `Cancelling`; whether there was one."""
    from prefect import get_client
    from prefect.logging.loggers import flow_run_logger
    from prefect.runner._cancel_finalizer import finalize_cancelled_state
    from prefect.runner._hook_runner import HookRunner
    from prefect.runner._state_proposer import StateProposer

    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        if flow_run.state is None or not flow_run.state.is_cancelling():
            return False
        flow_run_logger(flow_run, flow).info(
            "Cancelled as it finished: running its cancellation hooks, then Cancelled"
        )

        async def resolve_flow(_: Any) -> Any:
            return flow

        await HookRunner(resolve_flow=resolve_flow).run_cancellation_hooks(flow_run, flow_run.state)
        await finalize_cancelled_state(
            flow_run=flow_run,
            state_proposer=StateProposer(client=client),
            client=client,
            logger=logging.getLogger(__name__),
        )
        return True
