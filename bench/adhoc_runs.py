"""Ad-hoc screener runs through the API: submit latency, end-to-end latency and throughput.

Not a test: ``python bench/adhoc_runs.py [--runs N] [--concurrency C] [--quick]`` prints a
Markdown table (progress goes to stderr). Without ``--api-url``/``--api-key`` it starts its
own stack with ``tests.stack.start_stack`` on fresh Postgres databases (Prefect's too:
SQLite answers "database is locked" under bursts, DESIGN.md) and always stops it and drops
the databases at the end. It measures Prefect's stock process worker (the baseline) and then
flowdesk's worker, one fresh stack each, and prints their ratios. Three phases, one row each:

- sequential: submit one run, poll it every 50 ms until terminal, then the next one;
- K clients: K threads each submit a run, wait for it, then submit the next (K in flight);
- burst: C threads submit N runs as fast as they can, then each polls the runs it submitted.

End-to-end is from just before the POST to the first GET that shows ``completed``; runs per
minute is completed runs over first submit -> last completion. Any run that does not end
``completed`` (or times out, or gets a 5xx on submit) is counted as failed and listed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from benchkit import PREFECT_SERVERS, add_prefect_server_option, machine, own_stack, percentile

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"completed", "failed", "cancelled", "crashed"}
OPEN = {"not submitted", "pending", "running"}
# 50 ms polling: the end-to-end figure is at most one GET round trip + 50 ms late.
POLL_INTERVAL_S = 0.05
QUICK_RUNS = 5
# Prefect's stock process worker (FLOWDESK_WORKER_TYPE=process): the baseline.
BASELINE = "process"


@dataclass
class RunRecord:
    index: int
    started: float = 0.0  # perf_counter just before the POST
    submit_s: float | None = None  # the POST's round trip, when it answered 202
    run_id: str | None = None
    status: str = "not submitted"
    done: float | None = None  # perf_counter of the first GET that showed `completed`
    error: str | None = None
    poll_errors: int = 0  # GETs that got a 5xx or no answer, retried

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def end_to_end_s(self) -> float | None:
        return self.done - self.started if self.done is not None else None


@dataclass
class Phase:
    name: str
    records: list[RunRecord] = field(default_factory=list)
    worker: str = ""

    def e2e_p50(self) -> float | None:
        return percentile([r.end_to_end_s for r in self.records if r.end_to_end_s is not None], 50)

    def per_minute(self) -> float | None:
        done = [r.done for r in self.records if r.done is not None]
        if not done:
            return None
        span = max(done) - min(r.started for r in self.records if r.started)
        return sum(r.completed for r in self.records) / (span / 60)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def screener_body(screener_set: str) -> dict[str, Any]:
    return {
        "screener_set": screener_set,
        "filter_criteria": {"market_cap_min": 1_000_000_000, "pe_ratio_max": 40},
        "top_n": 10,
    }


def submit(client: httpx.Client, record: RunRecord, body: dict[str, Any]) -> None:
    """POST one run; a 4xx is a set-up mistake (key, set name) and stops the benchmark."""
    record.started = time.perf_counter()
    try:
        response = client.post("/api/screeners/run", json=body)
    except httpx.HTTPError as exc:
        record.status, record.error = "submit error", f"{type(exc).__name__}: {exc}"
        return
    elapsed = time.perf_counter() - record.started
    if 400 <= response.status_code < 500:
        raise SystemExit(
            f"POST /api/screeners/run answered {response.status_code}: {response.text}"
        )
    if response.status_code != 202:
        record.status, record.error = f"submit {response.status_code}", response.text[:200]
        return
    record.submit_s, record.run_id = elapsed, str(response.json()["run_id"])
    record.status = "pending"


def poll(client: httpx.Client, record: RunRecord) -> bool:
    """GET the run once; True when it is terminal (or can no longer be read)."""
    try:
        response = client.get(f"/api/runs/{record.run_id}")
    except httpx.HTTPError:
        record.poll_errors += 1
        return False
    if response.status_code >= 500:
        record.poll_errors += 1
        return False
    if response.status_code != 200:
        record.status, record.error = f"GET {response.status_code}", response.text[:200]
        return True
    body = response.json()
    record.status = body["status"]
    if record.status == "completed":
        record.done = time.perf_counter()
    elif record.status in TERMINAL:
        record.error = body.get("error")
    return record.status in TERMINAL


def wait_all(client: httpx.Client, records: list[RunRecord], timeout: float) -> None:
    """Sweep the unfinished runs, 50 ms between sweeps, until all are terminal or time out."""
    pending = [r for r in records if r.run_id is not None]
    while pending:
        pending = [r for r in pending if not poll(client, r)]
        for record in [r for r in pending if time.perf_counter() - r.started > timeout]:
            record.status, record.error = "timeout", f"{record.status} after {timeout:g} s"
            pending.remove(record)
        if pending:
            time.sleep(POLL_INTERVAL_S)


def run_sequential(
    make_client: Callable[[], httpx.Client],
    body: dict[str, Any],
    n: int,
    timeout: float,
    name: str = "sequential",
) -> Phase:
    phase = Phase(name)
    with make_client() as client:
        for i in range(n):
            record = RunRecord(i)
            submit(client, record, body)
            wait_all(client, [record], timeout)
            phase.records.append(record)
            e2e = f"{record.end_to_end_s:.2f} s" if record.end_to_end_s is not None else "-"
            sub = f"{record.submit_s * 1000:.0f} ms" if record.submit_s is not None else "-"
            log(f"[{name} {i + 1}/{n}] {record.status}: submit {sub}, end-to-end {e2e}")
    return phase


class Indexes:
    """Hands the run indexes 0..n-1 out to client threads, each index once."""

    def __init__(self, n: int) -> None:
        self._next = iter(range(n))
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            return next(self._next, None)


def run_concurrent(
    make_client: Callable[[], httpx.Client],
    body: dict[str, Any],
    n: int,
    clients: int,
    timeout: float,
) -> Phase:
    """`clients` users at once, each submitting a run and waiting for it before the next:
    `clients` runs in flight all the time, n in all."""
    phase = Phase(f"{clients} clients", [RunRecord(i) for i in range(n)])
    indexes = Indexes(n)
    failures: list[BaseException] = []

    def client_loop() -> None:
        try:
            with make_client() as client:
                while (i := indexes.take()) is not None:
                    submit(client, phase.records[i], body)
                    wait_all(client, [phase.records[i]], timeout)
        except BaseException as exc:  # re-raised in the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    log(f"[{phase.name}] {sum(r.completed for r in phase.records)}/{n} completed")
    return phase


def run_burst(
    make_client: Callable[[], httpx.Client],
    body: dict[str, Any],
    n: int,
    concurrency: int,
    timeout: float,
) -> Phase:
    phase = Phase("burst", [RunRecord(i) for i in range(n)])
    indexes = Indexes(n)
    failures: list[BaseException] = []

    def submitter() -> None:
        mine: list[RunRecord] = []
        try:
            with make_client() as client:
                while (i := indexes.take()) is not None:
                    submit(client, phase.records[i], body)
                    mine.append(phase.records[i])
                wait_all(client, mine, timeout)
        except BaseException as exc:  # re-raised in the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=submitter, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    shown = (0, 0)
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.5)
        submitted = sum(r.status != "not submitted" for r in phase.records)
        finished = sum(r.status not in OPEN for r in phase.records)
        if (submitted, finished) != shown:
            shown = (submitted, finished)
            log(f"[burst] {submitted}/{n} submitted, {finished}/{n} terminal")
    if failures:
        raise failures[0]
    return phase


def fmt(value: float | None, scale: float, digits: int) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def table_row(phase: Phase) -> str:
    submits = [r.submit_s for r in phase.records if r.submit_s is not None]
    e2e = [r.end_to_end_s for r in phase.records if r.end_to_end_s is not None]
    completed = sum(r.completed for r in phase.records)
    cells = [
        phase.worker,
        phase.name,
        str(len(phase.records)),
        str(len(phase.records) - completed),
        fmt(percentile(submits, 50), 1000, 0),
        fmt(percentile(submits, 99), 1000, 0),
        fmt(percentile(e2e, 50), 1, 2),
        fmt(percentile(e2e, 99), 1, 2),
        fmt(phase.per_minute(), 1, 1),
    ]
    return "| " + " | ".join(cells) + " |"


def ratio_rows(phases: list[Phase]) -> list[str]:
    """Per phase: the baseline's end-to-end p50 over flowdesk's, flowdesk's runs/min over
    the baseline's (both > 1 when flowdesk is faster)."""
    rows = []
    by_key = {(p.worker, p.name): p for p in phases}
    for name in dict.fromkeys(p.name for p in phases):
        base, ours = by_key.get((BASELINE, name)), by_key.get(("flowdesk", name))
        if base is None or ours is None:
            continue
        p50 = _ratio(base.e2e_p50(), ours.e2e_p50())
        rate = _ratio(ours.per_minute(), base.per_minute())
        rows.append(f"| {name} | {p50} | {rate} |")
    return rows


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.1f}x"


def reproduce(args: argparse.Namespace) -> str:
    argv = ["python", "bench/adhoc_runs.py", "--runs", str(args.runs)]
    argv += ["--concurrency", str(args.concurrency), "--clients", str(args.clients)]
    argv += ["--set", args.set]
    argv += ["--warmup", str(args.warmup), "--timeout", f"{args.timeout:g}"]
    argv += ["--workers", ",".join(args.workers)]
    if args.api_url:
        argv += ["--api-url", args.api_url, "--api-key", "$FLOWDESK_API_KEY"]
    else:
        argv += ["--prefect-server", args.prefect_server]
    return " ".join(a if a.startswith("$") else shlex.quote(a) for a in argv)


def report(args: argparse.Namespace, phases: list[Phase]) -> None:
    from flowdesk.settings import Settings

    limit = Settings().worker_limit
    if args.api_url:
        target = f"stack at {args.api_url}; worker limit {limit} as set in this shell, unchecked"
    else:
        # tests/stack.py sets it to 0 so every GET of an open run asks Prefect for its state.
        target = (
            "own stack on Postgres (`flowdesk up`), Prefect server "
            f"{PREFECT_SERVERS[args.prefect_server]}, reconcile-on-read after 15 s (the default)"
        )
    print(
        f"ad-hoc screener runs, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        f"{machine()}; prefect {importlib.metadata.version('prefect')}; "
        f"workers: {', '.join(args.workers)}, limit {limit}; {target}; "
        f"set {args.set}, {args.warmup} warm-up run(s) not counted"
    )
    print(f"command: `{reproduce(args)}`")
    print()
    print(
        "| worker | phase | runs | failed | submit p50 ms | submit p99 ms "
        "| end-to-end p50 s | end-to-end p99 s | runs/min |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for phase in phases:
        print(table_row(phase))
    ratios = ratio_rows(phases)
    if ratios:
        print()
        print(
            f"| phase | end-to-end p50, {BASELINE} / flowdesk | runs/min, flowdesk / {BASELINE} |"
        )
        print("| --- | ---: | ---: |")
        print("\n".join(ratios))
    for phase in phases:
        for r in phase.records:
            if not r.completed:
                print(f"- {phase.name} #{r.index} run {r.run_id}: {r.status}: {r.error or ''}")
        retried = sum(r.poll_errors for r in phase.records)
        if retried:
            print(f"- {phase.name}: {retried} GETs got a 5xx or no answer and were retried")


@contextmanager
def target_api(args: argparse.Namespace, worker: str) -> Iterator[tuple[str, str]]:
    """The API URL and key: the given ones, or those of a stack started and removed here."""
    if args.api_url:
        yield args.api_url, args.api_key
        return
    # The production default: reads reconcile only runs open for 15 s or more.
    env = {"FLOWDESK_RECONCILE_AFTER_SECONDS": "15", "FLOWDESK_WORKER_TYPE": worker}
    with own_stack(env, log, split_prefect=args.prefect_server == "split") as stack:
        yield stack.api_url, stack.create_user("bench")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per phase (default 30)")
    parser.add_argument("--concurrency", type=int, default=4, help="burst submitters (4)")
    parser.add_argument(
        "--clients", type=int, default=5, help="clients each waiting for its run (5)"
    )
    parser.add_argument("--set", default="tech_majors", help="screener set (tech_majors)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first (1)")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds from submit before a run fails"
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke check: --runs {QUICK_RUNS}")
    parser.add_argument("--api-url", help="an already running flowdesk API")
    parser.add_argument("--api-key", help="an API key for --api-url")
    parser.add_argument(
        "--workers",
        default=f"{BASELINE},flowdesk",
        help=f"worker types, one stack each, in this order ({BASELINE},flowdesk)",
    )
    add_prefect_server_option(parser)
    args = parser.parse_args()
    args.workers = [w.strip() for w in args.workers.split(",") if w.strip()]
    if not set(args.workers) <= {BASELINE, "flowdesk"}:
        parser.error(f"--workers takes {BASELINE} and/or flowdesk")
    if args.api_url and len(args.workers) != 1:
        parser.error("--api-url measures one running stack: name its worker in --workers")
    if bool(args.api_url) != bool(args.api_key):
        parser.error("give both --api-url and --api-key, or neither to start a stack")
    if args.quick:
        args.runs = QUICK_RUNS
    if args.runs < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--runs and --concurrency must be >= 1, --warmup >= 0")
    return args


def main() -> None:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so the stack is stopped and its databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    body = screener_body(args.set)
    phases: list[Phase] = []
    for worker in args.workers:
        with target_api(args, worker) as (api_url, api_key):

            def make_client(url: str = api_url, key: str = api_key) -> httpx.Client:
                headers = {"Authorization": f"Bearer {key}"}
                return httpx.Client(base_url=url, headers=headers, timeout=60)

            if args.warmup:
                log(f"warm-up: {args.warmup} run(s), not counted")
                run_sequential(make_client, body, args.warmup, args.timeout, name="warm-up")
            measured = [run_sequential(make_client, body, args.runs, args.timeout)]
            measured.append(
                run_concurrent(make_client, body, args.runs, args.clients, args.timeout)
            )
            measured.append(run_burst(make_client, body, args.runs, args.concurrency, args.timeout))
            for phase in measured:
                phase.worker = worker
            phases += measured
    report(args, phases)


if __name__ == "__main__":
    main()
