"""What `flowdesk up` creates in Prefect, read back through Prefect's own client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient

from deployments.setup import QUEUES, ZOMBIE_AUTOMATION
from tests.factories import wait_for_flow_run
from tests.stack import Stack


async def _read(stack: Stack) -> dict[str, Any]:
    async with PrefectClient(stack.prefect_api_url) as client:
        pool = await client.read_work_pool("flowdesk")
        queues = await client.read_work_queues(work_pool_name="flowdesk")
        automations = await client.read_automations_by_name(ZOMBIE_AUTOMATION)
        deployments = [
            await client.read_deployment_by_name(name)
            for name in ("screener/adhoc", "report/adhoc")
        ]
        workers = await client.read_workers_for_work_pool("flowdesk")
    return {
        "pool": pool,
        "queues": {q.name: q.priority for q in queues},
        "automations": automations,
        "deployments": deployments,
        "workers": workers,
    }


class TestPrefectSetup:
    def test_pool_queues_deployments_worker_and_zombie_automation_exist(
        self, stack: Stack, alice: httpx.Client
    ) -> None:
        seen = asyncio.run(_read(stack))
        assert seen["pool"].type == "flowdesk"
        assert "isolation" in seen["pool"].base_job_template["variables"]["properties"]
        assert seen["queues"] == QUEUES == {"high": 1, "default": 2, "low": 3}
        assert [d.work_pool_name for d in seen["deployments"]] == ["flowdesk", "flowdesk"]
        assert [d.entrypoint for d in seen["deployments"]] == [
            "flows/screener.py:screener",
            "flows/report.py:report",
        ]
        assert any(
            w.status.value == "ONLINE" and w.name.startswith("FlowdeskWorker")
            for w in seen["workers"]
        )
        (automation,) = seen["automations"]
        assert automation.enabled
        assert automation.trigger.after == {"prefect.flow-run.heartbeat"}
        # A run a stopping worker handed back has no heartbeat until it runs again.
        assert "prefect.flow-run.AwaitingRetry" in automation.trigger.expect

    def test_high_priority_run_goes_to_the_high_queue(
        self, stack: Stack, alice: httpx.Client
    ) -> None:
        response = alice.post(
            "/api/screeners/run",
            json={"tickers": ["AAPL", "MSFT"], "top_n": 2, "priority": "high"},
        )
        assert response.status_code == 202, response.text
        flow_run_id = wait_for_flow_run(alice, response.json()["run_id"])

        async def queue_of() -> str | None:
            async with PrefectClient(stack.prefect_api_url) as client:
                return (await client.read_flow_run(flow_run_id)).work_queue_name

        assert asyncio.run(queue_of()) == "high"
