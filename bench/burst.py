"""A burst of scheduled screener runs: N cron schedules due at the same minute.

Not a test: ``python bench/burst.py [--runs N] [--users U] [--quick]`` prints Markdown
tables (progress goes to stderr). The target (from the issue) is 1,000 scheduled screener
runs due at the same minute, of different owners and parameters, all ``completed`` within
120 s of the tick, none lost or duplicated, with start lateness p50/p99 reported and the
worker's resident memory below 1 GiB through the burst (``--runs 1000 --workers
flowdesk``). The baseline is Prefect's stock process worker (``FLOWDESK_WORKER_TYPE=process``),
measured in the same run on a fresh stack of its own; at about 15 runs a minute it needs
about an hour for 1,000 runs, so the default is 100.

For each worker type the script starts a stack with ``tests.stack.start_stack`` (``flowdesk
up`` on fresh Postgres databases, Prefect's too; production reconcile settings), creates U
users and an admin, and then:

1. calibrates: 8 probe schedules (a yearly cron, another user) are created by 4 threads,
   timed and deleted, to estimate how long creating N schedules takes;
2. picks the tick T: the first whole minute at least (1.25 x that estimate + 60 s) away;
3. creates N schedules over HTTP (``POST /api/schedules``, 4 threads), round robin over
   the U users, each with its own ``top_n`` and P/E bound, all with the cron ``M H * * *``
   of T (UTC) and the default ``catchup: latest`` / ``stale_after: 1h``, so the tick is
   neither superseded (the next one is a day later) nor stale. Every answer must preview T
   as the first fire time; if creating them overruns the tick, the script stops;
4. samples memory every 0.5 s from then on: the RSS of the ``prefect worker start`` process,
   and the RSS and PSS of it plus all its descendants (the flow runs);
5. lists the runs every 2 s with the admin key (``GET /api/runs?job_type=screener&since=``,
   paged by 200) until every schedule has a terminal run for T or T + ``--timeout`` passes;
6. asks Prefect (``POST /flow_runs/filter``) for the flow runs expected at T, to see
   duplicates flowdesk would have absorbed (the unique ``(schedule_id, scheduled_for)``
   makes a second flow run of a tick a no-op, so a duplicate shows on Prefect's side).

All figures come from the run's own timestamps, not from when the poll saw them: start
lateness is ``started_at - scheduled_for`` (``started_at`` is stamped when the flow records
the tick, i.e. after the flow run's process has started and imported the flow), end-to-end
is ``finished_at - T``. A worker fetches runs up to ``PREFECT_WORKER_PREFETCH_SECONDS``
(10 s) ahead, so lateness can be negative. Percentiles use ``statistics.quantiles(n=100,
method="inclusive")``.

Caveats: the RSS of forked processes counts their shared copy-on-write pages once per
process, so the tree's RSS overstates what flowdesk's forked runs use; PSS splits shared
pages between the processes that share them. The run listing costs the API some CPU on the
same 2 cores during the burst (N/200 requests every 2 s). Lost means a schedule with no run
for T when the script stops waiting, so a run that starts after ``--timeout`` counts as
lost.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
from benchkit import PREFECT_SERVERS, add_prefect_server_option, machine, own_stack, percentile

if TYPE_CHECKING:
    from tests.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"completed", "failed", "cancelled", "crashed", "skipped", "dead_lettered"}
BASELINE = "process"
QUICK_RUNS = 10
WITHIN_S = 120.0  # the target: every run completed within this long after the tick
MEMORY_LIMIT_MIB = 1024.0  # the target: the worker's RSS stays below 1 GiB
CREATE_THREADS = 4
PROBES = 8
PROBE_CRON = "0 0 1 1 *"  # yearly: the probes' runs never come due during the benchmark
TICK_MARGIN_S = 60.0
ESTIMATE_FACTOR = 1.25
# A schedule created this close to the tick might miss it: stop instead.
OVERRUN_S = 5.0
POLL_INTERVAL_S = 2.0
SAMPLE_INTERVAL_S = 0.5
PAGE = 200  # the API's and Prefect's largest page
RETRIES = 3  # a 5xx on create (nothing was saved) is retried this many times
MIB = 2**20


class Overrun(Exception):
    """Creating the schedules took so long that the tick is (nearly) past."""


@dataclass
class Planned:
    index: int
    owner: str
    key: str
    body: dict[str, Any]
    schedule_id: str | None = None
    deployment_id: str | None = None
    error: str | None = None


@dataclass
class Memory:
    samples: int = 0
    worker_rss: int = 0
    tree_rss: int = 0
    tree_pss: int = 0
    note: str = ""


@dataclass
class Result:
    worker: str
    tick: datetime
    planned: list[Planned]
    create_s: float = 0.0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> summary
    prefect: Counter[str] | None = None  # deployment_id -> flow runs expected at the tick
    prefect_states: Counter[str] = field(default_factory=Counter)
    prefect_error: str | None = None
    memory: Memory = field(default_factory=Memory)
    poll_errors: int = 0
    waited_s: float = 0.0

    @property
    def created(self) -> list[Planned]:
        return [p for p in self.planned if p.schedule_id is not None]

    def tick_runs(self) -> dict[str, list[dict[str, Any]]]:
        """Our schedules' runs for the tick, by schedule id."""
        ours: dict[str, list[dict[str, Any]]] = {
            p.schedule_id: [] for p in self.created if p.schedule_id
        }
        for run in self.runs.values():
            sid = run.get("schedule_id")
            if sid in ours and parse_time(run["scheduled_for"]) == self.tick:
                ours[sid].append(run)
        return ours

    def other_runs(self) -> list[dict[str, Any]]:
        """Runs of our schedules for another tick than T (none are expected)."""
        ours = {p.schedule_id for p in self.created}
        return [
            r
            for r in self.runs.values()
            if r.get("schedule_id") in ours and parse_time(r["scheduled_for"]) != self.tick
        ]


@dataclass
class Summary:
    schedules: int
    runs: int
    completed: int
    lost: int
    duplicated: int
    within: int
    last_s: float | None
    late_p50: float | None
    late_p99: float | None
    e2e_p50: float | None
    e2e_p99: float | None
    statuses: Counter[str]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def seconds(end: str | None, start: datetime | None) -> float | None:
    when = parse_time(end)
    return None if when is None or start is None else (when - start).total_seconds()


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or numerator <= 0 or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def cron_of(tick: datetime) -> str:
    return f"{tick.minute} {tick.hour} * * *"


def schedule_body(index: int, screener_set: str, cron: str) -> dict[str, Any]:
    """Schedule `index`: its own top_n and P/E bound, so no two have the same parameters."""
    return {
        "name": f"burst-{index:04d}",
        "job_type": "screener",
        "target": screener_set,
        "task_params": {
            "filter_criteria": {
                "market_cap_min": 1_000_000_000,
                "pe_ratio_max": 20 + index % 41,
            },
            "top_n": 1 + index % 25,
        },
        "cron": cron,
        "enabled": True,
    }


def client_for(api_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def create_one(api_url: str, plan: Planned, tick: datetime | None) -> None:
    """POST one schedule; a 4xx is a set-up mistake and stops the benchmark."""
    if tick is not None and datetime.now(UTC) > tick - timedelta(seconds=OVERRUN_S):
        raise Overrun(f"schedule #{plan.index} not created before {tick:%H:%M:%S} UTC")
    with client_for(api_url, plan.key) as client:
        for attempt in range(1, RETRIES + 1):
            try:
                response = client.post("/api/schedules", json=plan.body)
            except httpx.HTTPError as exc:  # it may or may not exist now: not retried
                plan.error = f"{type(exc).__name__}: {exc}"
                return
            if response.status_code == 201:
                break
            if 400 <= response.status_code < 500:
                raise SystemExit(
                    f"POST /api/schedules answered {response.status_code}: {response.text}"
                )
            plan.error = f"{response.status_code} after {attempt} attempt(s): {response.text[:200]}"
            if attempt == RETRIES:
                return
            time.sleep(1.0)
    created = response.json()
    first = parse_time(created["next_fire_times"][0]) if created["next_fire_times"] else None
    if tick is not None and first != tick:
        raise Overrun(f"schedule #{plan.index} first fires at {first}, not at the tick {tick}")
    plan.schedule_id, plan.error = str(created["id"]), None
    plan.deployment_id = str(created["prefect"]["deployment_id"])


def create_all(api_url: str, plans: list[Planned], tick: datetime | None, label: str) -> float:
    """Create every planned schedule with CREATE_THREADS threads; the wall time in s."""
    done = 0
    lock = threading.Lock()
    started = time.perf_counter()

    def task(plan: Planned) -> None:
        nonlocal done
        create_one(api_url, plan, tick)
        with lock:
            done += 1
            if done % 50 == 0 or done == len(plans):
                log(
                    f"[{label}] {done}/{len(plans)} created "
                    f"in {time.perf_counter() - started:.0f} s"
                )

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(task, plans))  # re-raises the first exception
    return time.perf_counter() - started


def calibrate(api_url: str, key: str, screener_set: str) -> float:
    """Seconds per schedule when CREATE_THREADS threads create PROBES of them (deleted after)."""
    probes = [
        Planned(
            i,
            "burstprobe",
            key,
            {**schedule_body(i, screener_set, PROBE_CRON), "name": f"probe-{i}"},
        )
        for i in range(PROBES)
    ]
    wall = create_all(api_url, probes, None, "calibration")
    with client_for(api_url, key) as client:
        for probe in probes:
            if probe.schedule_id:
                client.delete(f"/api/schedules/{probe.schedule_id}")
    failed = [p.error for p in probes if p.error]
    if failed:
        raise SystemExit(f"calibration: {len(failed)} probe schedules failed: {failed[0]}")
    return wall / PROBES


def choose_tick(n: int, per_schedule_s: float) -> datetime:
    """The first whole minute at least 1.25 x the estimated creation time + 60 s away."""
    earliest = datetime.now(UTC) + timedelta(
        seconds=n * per_schedule_s * ESTIMATE_FACTOR + TICK_MARGIN_S
    )
    return earliest.replace(second=0, microsecond=0) + timedelta(minutes=1)


def create_users(stack: Stack, count: int) -> tuple[list[tuple[str, str]], str, str]:
    """U users (name, key), an admin key and the probe user's key, created in parallel."""
    names = [f"burst{i}" for i in range(count)]
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(stack.create_user, names))
        admin = pool.submit(stack.create_user, "burstadmin", admin=True)
        probe = pool.submit(stack.create_user, "burstprobe")
        return list(zip(names, keys, strict=True)), admin.result(), probe.result()


def find_worker(stack: Stack) -> psutil.Process | None:
    """The `prefect worker start` process of the stack."""
    for process in stack.process_tree():
        try:
            cmdline = process.cmdline()
        except psutil.Error:
            continue
        if "worker" in cmdline and "start" in cmdline:
            return process
    return None


class MemorySampler:
    """Every 0.5 s in a thread: the worker's RSS, and the RSS and PSS of it and its descendants."""

    def __init__(self, worker: psutil.Process | None) -> None:
        self.worker = worker
        self.memory = Memory(note="" if worker else "no `prefect worker start` process found")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while self.worker is not None and not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample(self.worker)

    def sample(self, worker: psutil.Process) -> None:
        try:
            worker_rss = worker.memory_info().rss
            children = worker.children(recursive=True)
        except psutil.Error as exc:
            self.memory.note = f"worker unreadable: {exc}"
            return
        tree_rss, tree_pss = worker_rss, _pss(worker)
        for child in children:
            try:
                tree_rss += child.memory_info().rss
                tree_pss += _pss(child)
            except psutil.Error:  # it ended meanwhile
                continue
        m = self.memory
        m.samples += 1
        m.worker_rss = max(m.worker_rss, worker_rss)
        m.tree_rss = max(m.tree_rss, tree_rss)
        m.tree_pss = max(m.tree_pss, tree_pss)


def _pss(process: psutil.Process) -> int:
    return int(getattr(process.memory_full_info(), "pss", 0))


def list_runs(client: httpx.Client, since: datetime) -> list[dict[str, Any]]:
    """Every screener run created since `since`, all pages (newest first; deduplicated later)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        params: dict[str, str | int] = {
            "job_type": "screener",
            "since": since.isoformat(),
            "limit": PAGE,
            "offset": offset,
        }
        response = client.get("/api/runs", params=params)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        offset += PAGE
        if offset >= page["total"] or not page["items"]:
            return items


def wait_for_runs(client: httpx.Client, result: Result, timeout: float) -> None:
    """Poll the run listing until every schedule has a terminal run for the tick, or timeout."""
    deadline = result.tick + timedelta(seconds=timeout)
    since = result.tick - timedelta(minutes=5)  # a worker may start a run up to 10 s early
    started = time.perf_counter()
    shown = time.perf_counter() - 10
    while True:
        try:
            for run in list_runs(client, since):
                result.runs[str(run["run_id"])] = run
        except httpx.HTTPError as exc:
            result.poll_errors += 1
            log(f"listing runs failed ({exc}); retrying")
        by_schedule = result.tick_runs()
        finished = sum(any(r["status"] in TERMINAL for r in runs) for runs in by_schedule.values())
        now = datetime.now(UTC)
        if time.perf_counter() - shown >= 10 or finished == len(by_schedule):
            shown = time.perf_counter()
            seen = sum(bool(runs) for runs in by_schedule.values())
            completed = sum(
                any(r["status"] == "completed" for r in runs) for runs in by_schedule.values()
            )
            log(
                f"[tick {(now - result.tick).total_seconds():+.0f} s] {seen}/{len(by_schedule)} "
                f"runs, {finished} terminal, {completed} completed; worker tree RSS max "
                f"{result.memory.tree_rss / MIB:.0f} MiB"
            )
        if finished == len(by_schedule) or now > deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    result.waited_s = time.perf_counter() - started


def prefect_tick_runs(prefect_api_url: str, tick: datetime) -> tuple[Counter[str], Counter[str]]:
    """Prefect's flow runs expected at the tick: count per deployment id, and their states."""
    per_deployment: Counter[str] = Counter()
    states: Counter[str] = Counter()
    window = {
        "after_": (tick - timedelta(seconds=1)).isoformat(),
        "before_": (tick + timedelta(seconds=1)).isoformat(),
    }
    offset = 0
    with httpx.Client(base_url=prefect_api_url, timeout=60) as client:
        while True:
            body = {
                "flow_runs": {"expected_start_time": window},
                "sort": "ID_DESC",
                "limit": PAGE,
                "offset": offset,
            }
            response = client.post("/flow_runs/filter", json=body)
            response.raise_for_status()
            page = response.json()
            for flow_run in page:
                per_deployment[str(flow_run.get("deployment_id"))] += 1
                states[str(flow_run.get("state_name"))] += 1
            if len(page) < PAGE:
                return per_deployment, states
            offset += PAGE


def summarize(result: Result) -> Summary:
    by_schedule = result.tick_runs()
    runs = [r for rs in by_schedule.values() for r in rs]
    completed = [r for r in runs if r["status"] == "completed"]
    e2e = [s for r in completed if (s := seconds(r["finished_at"], result.tick)) is not None]
    lateness = [
        s
        for r in runs
        if r["status"] != "skipped"
        and (s := seconds(r["started_at"], parse_time(r["scheduled_for"]))) is not None
    ]
    duplicated = {sid for sid, rs in by_schedule.items() if len(rs) > 1}
    if result.prefect is not None:
        duplicated |= {
            str(p.schedule_id) for p in result.created if result.prefect[str(p.deployment_id)] > 1
        }
    return Summary(
        schedules=len(by_schedule),
        runs=len(runs),
        completed=len(completed),
        lost=sum(not rs for rs in by_schedule.values()),
        duplicated=len(duplicated),
        within=sum(s <= WITHIN_S for s in e2e),
        last_s=max(e2e) if e2e else None,
        late_p50=percentile(lateness, 50),
        late_p99=percentile(lateness, 99),
        e2e_p50=percentile(e2e, 50),
        e2e_p99=percentile(e2e, 99),
        statuses=Counter(r["status"] for r in runs),
    )


def table_row(result: Result, s: Summary) -> str:
    m = result.memory
    cells = [
        result.worker,
        str(s.schedules),
        str(s.runs),
        str(s.completed),
        str(s.runs - s.completed),
        str(s.lost),
        str(s.duplicated),
        str(s.within),
        fmt(s.last_s, 1),
        fmt(s.late_p50),
        fmt(s.late_p99),
        fmt(s.e2e_p50, 1),
        fmt(s.e2e_p99, 1),
        fmt(m.worker_rss / MIB if m.samples else None, 0),
        fmt(m.tree_rss / MIB if m.samples else None, 0),
        fmt(m.tree_pss / MIB if m.samples else None, 0),
    ]
    return "| " + " | ".join(cells) + " |"


def ratio_rows(summaries: dict[str, tuple[Result, Summary]]) -> list[str]:
    """Baseline over flowdesk: > 1 when flowdesk is faster or uses less memory."""
    if BASELINE not in summaries or "flowdesk" not in summaries:
        return []
    (rb, base), (ro, ours) = summaries[BASELINE], summaries["flowdesk"]
    metrics: list[tuple[str, float | None, float | None]] = [
        ("tick -> last completion", base.last_s, ours.last_s),
        ("start lateness p50", base.late_p50, ours.late_p50),
        ("start lateness p99", base.late_p99, ours.late_p99),
        ("end-to-end p50", base.e2e_p50, ours.e2e_p50),
        ("end-to-end p99", base.e2e_p99, ours.e2e_p99),
        ("worker + children RSS max", rb.memory.tree_rss or None, ro.memory.tree_rss or None),
        ("worker + children PSS max", rb.memory.tree_pss or None, ro.memory.tree_pss or None),
    ]
    return [f"| {name} | {ratio(b, o)} |" for name, b, o in metrics]


def target_line(result: Result, s: Summary) -> str:
    met = (
        s.within == s.schedules
        and s.lost == 0
        and s.duplicated == 0
        and s.schedules == len(result.planned)
        and result.memory.samples > 0
        and result.memory.worker_rss / MIB < MEMORY_LIMIT_MIB
    )
    scale = "" if len(result.planned) >= 1000 else f" (at N={len(result.planned)}, not 1,000)"
    return (
        f"- target{scale}, {result.worker}: {'met' if met else 'not met'}: {s.within}/"
        f"{len(result.planned)} completed within {WITHIN_S:.0f} s, {s.lost} lost, "
        f"{s.duplicated} duplicated, worker RSS max {result.memory.worker_rss / MIB:.0f} MiB "
        f"(limit {MEMORY_LIMIT_MIB:.0f})"
    )


def notes(result: Result, s: Summary) -> list[str]:
    lines = [
        f"- {result.worker}: tick {result.tick:%Y-%m-%d %H:%M} UTC; {len(result.created)} "
        f"schedules created in {result.create_s:.0f} s "
        f"({len(result.created) / max(result.create_s, 1e-9):.1f}/s); "
        f"waited {result.waited_s:.0f} s; {result.memory.samples} memory samples"
        + (f" ({result.memory.note})" if result.memory.note else "")
    ]
    for plan in result.planned:
        if plan.error:
            lines.append(
                f"- {result.worker}: schedule #{plan.index} of {plan.owner} "
                f"not created: {plan.error}"
            )
    other = {k: v for k, v in s.statuses.items() if k != "completed"}
    if other:
        lines.append(f"- {result.worker}: runs not completed by status: {dict(other)}")
    for runs in result.tick_runs().values():
        for run in runs:
            if run["status"] != "completed":
                lines.append(
                    f"  - run {run['run_id']} ({run['owner']}): {run['status']}: "
                    f"{run.get('error') or run.get('reason') or ''}"[:300]
                )
    if result.prefect is None:
        lines.append(f"- {result.worker}: Prefect's flow runs not read: {result.prefect_error}")
    else:
        ours = {str(p.deployment_id) for p in result.created}
        counted = sum(n for d, n in result.prefect.items() if d in ours)
        missing = sum(1 for d in ours if result.prefect[d] == 0)
        lines.append(
            f"- {result.worker}: Prefect has {counted} flow runs expected at the tick for the "
            f"{len(ours)} deployments ({missing} with none), states {dict(result.prefect_states)}"
        )
    extra = result.other_runs()
    if extra:
        lines.append(f"- {result.worker}: {len(extra)} runs of these schedules for another tick")
    if result.poll_errors:
        lines.append(
            f"- {result.worker}: {result.poll_errors} run listings failed and were retried"
        )
    return lines


def reproduce(args: argparse.Namespace) -> str:
    argv = ["python", "bench/burst.py", "--runs", str(args.runs), "--users", str(args.users)]
    argv += ["--workers", ",".join(args.workers), "--worker-limit", str(args.worker_limit)]
    argv += ["--timeout", f"{args.timeout:g}", "--set", args.set]
    argv += ["--prefect-server", args.prefect_server]
    return " ".join(shlex.quote(a) for a in argv)


def report(args: argparse.Namespace, results: list[Result]) -> None:
    print(
        f"burst of scheduled screener runs, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        f"{machine()}; prefect {importlib.metadata.version('prefect')}; N={args.runs} "
        f"schedules due at the same minute, {args.users} users, set {args.set}; "
        f"workers: {', '.join(args.workers)}, limit {args.worker_limit}; own stack on Postgres, "
        f"Prefect server {PREFECT_SERVERS[args.prefect_server]}, "
        "reconcile after 15 s / every 30 s (production defaults)"
    )
    print(f"command: `{reproduce(args)}`")
    print()
    print(
        "| worker | schedules | runs | completed | not completed | lost | duplicated "
        f"| completed <= {WITHIN_S:.0f} s | tick -> last completion s | start lateness p50 s "
        "| start lateness p99 s | end-to-end p50 s | end-to-end p99 s | worker RSS max MiB "
        "| worker + children RSS max MiB | worker + children PSS max MiB |"
    )
    print("| --- |" + " ---: |" * 15)
    summaries = {r.worker: (r, summarize(r)) for r in results}
    for result, summary in summaries.values():
        print(table_row(result, summary))
    ratios = ratio_rows(summaries)
    if ratios:
        print()
        print(f"| metric | {BASELINE} / flowdesk |")
        print("| --- | ---: |")
        print("\n".join(ratios))
    print()
    for result, summary in summaries.values():
        print(target_line(result, summary))
    for result, summary in summaries.values():
        print("\n".join(notes(result, summary)))


def stack_env(args: argparse.Namespace, worker: str) -> dict[str, str]:
    return {
        "FLOWDESK_WORKER_TYPE": worker,
        "FLOWDESK_WORKER_LIMIT": str(args.worker_limit),
        "FLOWDESK_SCHEDULE_QUOTA": str(max(args.runs, PROBES)),
        # Production defaults (the test stack reconciles on every read, every 2 s).
        "FLOWDESK_RECONCILE_AFTER_SECONDS": "15",
        "FLOWDESK_RECONCILE_INTERVAL_SECONDS": "30",
    }


def run_burst(args: argparse.Namespace, worker: str, stack: Stack) -> Result:
    users, admin_key, probe_key = create_users(stack, args.users)
    log(f"{len(users)} users and an admin created")
    per_schedule = calibrate(stack.api_url, probe_key, args.set)
    tick = choose_tick(args.runs, per_schedule)
    log(
        f"calibration: {per_schedule * 1000:.0f} ms per schedule with {CREATE_THREADS} threads; "
        f"tick {tick:%H:%M:%S} UTC (cron {cron_of(tick)!r}), "
        f"{(tick - datetime.now(UTC)).total_seconds():.0f} s from now"
    )
    plans = [
        Planned(i, *users[i % len(users)], schedule_body(i, args.set, cron_of(tick)))
        for i in range(args.runs)
    ]
    result = Result(worker, tick, plans)
    try:
        result.create_s = create_all(stack.api_url, plans, tick, "create")
    except Overrun as exc:
        raise SystemExit(
            f"creating {args.runs} schedules overran the tick ({exc}); the estimate was "
            f"{args.runs * per_schedule:.0f} s: the machine is busier than the calibration said"
        ) from exc
    log(
        f"{len(result.created)}/{args.runs} schedules created, "
        f"{(tick - datetime.now(UTC)).total_seconds():.0f} s before the tick"
    )
    with (
        MemorySampler(find_worker(stack)) as sampler,
        client_for(stack.api_url, admin_key) as admin,
    ):
        result.memory = sampler.memory
        wait_for_runs(admin, result, args.timeout)
    try:
        result.prefect, result.prefect_states = prefect_tick_runs(stack.prefect_api_url, tick)
    except httpx.HTTPError as exc:
        result.prefect_error = f"{type(exc).__name__}: {exc}"
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="schedules due at the tick (100)")
    parser.add_argument("--users", type=int, default=10, help="owners, round robin (10)")
    parser.add_argument(
        "--workers",
        default=f"{BASELINE},flowdesk",
        help=f"worker types, one stack each, in this order ({BASELINE},flowdesk)",
    )
    parser.add_argument("--worker-limit", type=int, default=8, help="FLOWDESK_WORKER_LIMIT (8)")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds after the tick to wait (900)"
    )
    parser.add_argument("--set", default="tech_majors", help="screener set (tech_majors)")
    parser.add_argument("--quick", action="store_true", help=f"smoke check: --runs {QUICK_RUNS}")
    add_prefect_server_option(parser)
    args = parser.parse_args()
    args.workers = [w.strip() for w in args.workers.split(",") if w.strip()]
    if not args.workers or not set(args.workers) <= {BASELINE, "flowdesk"}:
        parser.error(f"--workers takes {BASELINE} and/or flowdesk")
    if args.quick:
        args.runs = QUICK_RUNS
    if args.runs < 1 or args.users < 1 or not 1 <= args.worker_limit <= 64 or args.timeout <= 0:
        parser.error("--runs and --users must be >= 1, --worker-limit 1..64, --timeout > 0")
    return args


def main() -> None:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so the stack is stopped and its databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[Result] = []
    for worker in args.workers:
        with own_stack(
            stack_env(args, worker),
            log,
            prefix="flowdesk-burst-",
            split_prefect=args.prefect_server == "split",
        ) as stack:
            results.append(run_burst(args, worker, stack))
    report(args, results)


if __name__ == "__main__":
    main()
