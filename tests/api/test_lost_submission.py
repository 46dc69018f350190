"""A run whose flow run was never created (the API died mid-submission) is not lost."""

from __future__ import annotations

import json
import uuid

import httpx
import psycopg

from tests.factories import submit_screener, wait_for_run
from tests.stack import Stack


def _libpq_url(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


class TestLostSubmission:
    def test_pending_run_without_flow_run_is_resubmitted_and_completes(
        self, alice: httpx.Client, stack: Stack
    ) -> None:
        template = wait_for_run(alice, submit_screener(alice))
        lost_id = uuid.uuid4()
        with psycopg.connect(_libpq_url(stack), autocommit=True) as conn:
            conn.execute(
                """
                INSERT INTO runs (id, owner_id, job_type, target, status, priority, snapshot,
                                  artifacts, created_at, updated_at)
                SELECT %s, owner_id, job_type, target, 'pending', priority, %s::jsonb,
                       '[]'::jsonb, now() - interval '2 minutes', now() - interval '2 minutes'
                FROM runs WHERE id = %s
                """,
                (lost_id, json.dumps(template["snapshot"]), template["run_id"]),
            )
        run = wait_for_run(alice, str(lost_id), timeout=90)
        assert run["status"] == "completed", run
        assert run["prefect"]["flow_run_id"] is not None
        assert run["result"]["returned"] == template["result"]["returned"]
