"""A warm executor reads the Prefect server's default result storage once a minute, not
once per flow run. Each case runs in a fresh interpreter (the fix patches Prefect's client
classes for the process's life) against the stack's Prefect server, and counts the
`GET /admin/storage` requests that leave it, as Prefect's engine makes them: through
`prefect.results`, with a new client each time, sync and async."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack import ROOT, Stack

READS = """
import asyncio, json, sys, httpx
from prefect import results
from flowdesk.worker import storage

storage.KEEP_SECONDS = float(sys.argv[1])
storage.keep_default_storage()
sent = []
for client_class in (httpx.Client, httpx.AsyncClient):
    original = client_class.send
    if client_class is httpx.Client:
        def send(self, request, *args, _original=original, **kwargs):
            sent.append(request.url.path)
            return _original(self, request, *args, **kwargs)
    else:
        async def send(self, request, *args, _original=original, **kwargs):
            sent.append(request.url.path)
            return await _original(self, request, *args, **kwargs)
    client_class.send = send

read_sync = results._read_server_default_result_storage_block_id
read_async = results._aread_server_default_result_storage_block_id
answers = [str(read_sync()) for _ in range(3)] + [str(asyncio.run(read_async())) for _ in range(2)]
print(json.dumps({"answers": answers, "reads": sum(p.endswith("/admin/storage") for p in sent)}))
"""


def reads(stack: Stack, keep_seconds: float) -> dict[str, object]:
    env = {**stack.env, "PREFECT_API_URL": stack.prefect_api_url}
    done = subprocess.run(
        [sys.executable, "-c", READS, str(keep_seconds)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.stack
def test_five_reads_in_a_minute_ask_the_server_once(stack: Stack) -> None:
    result = reads(stack, keep_seconds=60)
    assert result["reads"] == 1
    assert len(set(result["answers"])) == 1  # type: ignore[arg-type]


@pytest.mark.stack
def test_an_answer_older_than_the_period_is_asked_again(stack: Stack) -> None:
    result = reads(stack, keep_seconds=0)
    assert result["reads"] == 5
    assert len(set(result["answers"])) == 1  # type: ignore[arg-type]
