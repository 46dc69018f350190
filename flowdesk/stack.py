"""`flowdesk up`: the whole stack as one process tree.

Order: migrate the snapshot store, start (or reach) the Prefect server, create the work
pool, queues and zombie automation, apply prefect.yaml, start a worker, start the API.
Ctrl-C or SIGTERM stops them in reverse order, for sure (see `flowdesk.supervisor`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from flowdesk.settings import Settings, get_settings
from flowdesk.supervisor import ServiceSpec, StartupError, Supervisor

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Flow runs heartbeat this often; the zombie automation waits for three missed beats.
HEARTBEAT_SECONDS = "30"
# Idle Postgres connections each process of the started Prefect server keeps (see child_env).
PREFECT_POOL_SIZE = 15
# Events a Prefect service consuming Redis's event stream reads at once (prefect_redis_env).
CONSUMER_READ_BATCH = 20
# After its drain period, a worker hands back each run still going (a few API calls).
WORKER_STOP_MARGIN_SECONDS = 15.0


def child_env(settings: Settings, prefect_api: str) -> dict[str, str]:
    """The environment every child gets: absolute paths, one Prefect API, no telemetry."""
    env = dict(os.environ)
    env.update(
        {
            "FLOWDESK_STATE_DIR": str(settings.state_dir),
            "FLOWDESK_DATABASE_URL": settings.database_url,
            "FLOWDESK_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "FLOWDESK_CONFIG_DIR": str(settings.config_dir),
            "FLOWDESK_SCREENER_SETS_PATH": str(settings.screener_sets_path),
            "FLOWDESK_MARKET_DATA_PATH": str(settings.market_data_path),
            "FLOWDESK_COMPANIES_PATH": str(settings.companies_path),
            "FLOWDESK_NOTIFICATIONS_PATH": str(settings.notifications_path),
            "FLOWDESK_NEWS_SAMPLE_DIR": str(settings.news_sample_dir),
            "FLOWDESK_ARCHIVE_LOCATION": str(settings.archive_location),
            "FLOWDESK_API_PORT": str(settings.api_port),
            "FLOWDESK_PREFECT_PORT": str(settings.prefect_port),
            "PREFECT_API_URL": prefect_api,
            "PREFECT_HOME": env.get("PREFECT_HOME", str(settings.state_dir / "prefect")),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": HEARTBEAT_SECONDS,
            # Off by default in Prefect 3.8: a run cancelled while its process starts
            # (PENDING) would stay Cancelling for ever. Checked every 10 s, not 120 s.
            "PREFECT_WORKER_ENABLE_CANCELLATION": "true",
            "PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Poll for work every 1 s, not Prefect's 10 s: a submitted run otherwise waits 5 s on
    # average before the worker even sees it. An operator (or the test suite) may set it.
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "1")
    env.setdefault("PREFECT_UI_URL", settings.prefect_ui)
    if not settings.prefect_api_url:
        # The server flowdesk starts checks CSRF tokens only if told to; without that, every
        # new client (two per flow run) would still ask it for a token first.
        env.setdefault(
            "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED",
            env.get("PREFECT_SERVER_CSRF_PROTECTION_ENABLED", "false"),
        )
        # Keep up to 15 idle Postgres connections per server process, not SQLAlchemy's 5:
        # with 4 runs in flight the API and the services at times use more than 5 at
        # once, and every connection above the pool was closed on return and opened
        # again (4 clients of ad-hoc runs for 40 s: 20 new connections, 5 with 15; 132-139
        # and 7-10 when every read of a run also asks Prefect). SQLite ignores it.
        env.setdefault("PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE", str(PREFECT_POOL_SIZE))
        if settings.prefect_redis_url:
            for name, value in prefect_redis_env(settings.prefect_redis_url).items():
                env.setdefault(name, value)
        else:
            # Its automations see each flow run's events in order (flowdesk.prefect_messaging).
            env.setdefault("PREFECT_MESSAGING_BROKER", "flowdesk.prefect_messaging")
    # The Prefect server, the worker and its flow-run processes log JSON lines.
    env.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(settings.config_dir / "logging.yml"))
    return env


def prefect_redis_env(url: str) -> dict[str, str]:
    """Prefect's settings for a server whose API and services run in two processes on one
    Redis database (Prefect's guide "Scale self-hosted Prefect"): events, the messaging
    cache, concurrency leases and the background tasks' queue (Docket) all go through
    Redis. The triggers' ordering is Prefect's with flowdesk's fix (flowdesk.prefect_ordering)."""
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "flowdesk.prefect_ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": url,
        # Each event goes to Redis at once, as on the in-memory broker. Batched (5 events,
        # or 10 s), a flow run's heartbeat waited in its websocket's batch while the
        # server's own Completed event went ahead: the triggers saw Completed first and
        # the zombie automation fired 90 s later on the completed run. A batch is sent
        # one XADD per event anyway, so batching saved no round trip.
        "PREFECT_REDIS_MESSAGING_PUBLISHER_BATCH_SIZE": "1",
        "PREFECT_SERVER_DOCKET_URL": url,
        # The services that consume every event read up to 20 waiting ones per round
        # trip instead of 1 (each read also claims stale messages and acknowledges: three
        # Redis commands). They still handle them one at a time, in order; only a backlog
        # fills a read, as after the tick of a burst (1,000 scheduled runs: 866 done
        # within 120 s against 800, start lateness p50 69.6 s against 79.3).
        **{
            f"PREFECT_SERVER_SERVICES_{service}_READ_BATCH_SIZE": str(CONSUMER_READ_BATCH)
            for service in ("EVENT_PERSISTER", "TRIGGERS", "TASK_RUN_RECORDER")
        },
    }


def split_server_problem(settings: Settings, env: dict[str, str]) -> str | None:
    """Why the Prefect server cannot run in two processes as configured, or None."""
    url = settings.prefect_redis_url
    if not url or settings.prefect_api_url:
        return None
    database = env.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    if not database.startswith("postgresql"):
        return (
            "FLOWDESK_PREFECT_REDIS_URL runs the Prefect server as two processes, which "
            "share its database: set PREFECT_API_DATABASE_CONNECTION_URL to Postgres "
            "(postgresql+asyncpg://user@host/db), or unset FLOWDESK_PREFECT_REDIS_URL to "
            "keep one process"
        )
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        return f"FLOWDESK_PREFECT_REDIS_URL={url} does not answer ({exc}); start that Redis"
    finally:
        client.close()
    return None


def prefect_reachable(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=3).is_success
    except httpx.HTTPError:
        return False


async def _setup(settings: Settings, api_url: str) -> None:
    from prefect.client.orchestration import PrefectClient

    from deployments.setup import ensure_work_pool, ensure_zombie_automation

    async with PrefectClient(api_url) as client:
        await ensure_work_pool(client, settings.work_pool)
        await ensure_zombie_automation(client)


async def _after_deploy(settings: Settings, api_url: str, env: dict[str, str]) -> None:
    from prefect.client.orchestration import PrefectClient

    from blocks.notifications import register
    from deployments.timetable import apply_timetable
    from flowdesk.notifications.channels import load_channels

    async with PrefectClient(api_url) as client:
        await apply_timetable(client, settings)
        await register(client, load_channels(settings.notifications_path), env)


def setup_prefect(settings: Settings | None = None, env: dict[str, str] | None = None) -> None:
    """Work pool, queues, automation, every deployment of prefect.yaml, then the
    timetable's crons from settings and the alert channels as notification blocks."""
    from deployments.setup import deploy_all

    settings = settings or get_settings()
    env = env or child_env(settings, settings.prefect_api)
    asyncio.run(_setup(settings, settings.prefect_api))
    deploy_all(PROJECT_DIR, env)
    asyncio.run(_after_deploy(settings, settings.prefect_api, env))


def run_stack(
    *,
    api_port: int | None = None,
    prefect_port: int | None = None,
    worker_limit: int | None = None,
) -> int:
    """Start everything, wait for Ctrl-C or SIGTERM, stop everything."""
    overrides = {
        k: v
        for k, v in {
            "api_port": api_port,
            "prefect_port": prefect_port,
            "worker_limit": worker_limit,
        }.items()
        if v is not None
    }
    settings = get_settings().model_copy(update=overrides)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    from flowdesk.db.migrate import upgrade

    upgrade(settings.database_url)
    api_url = settings.prefect_api
    env = child_env(settings, api_url)
    supervisor = Supervisor(log_dir=settings.state_dir / "logs")
    supervisor.install_signal_handlers()
    with supervisor:
        try:
            return _start_all(supervisor, settings, env)
        except StartupError as exc:
            if supervisor.stop_requested:
                return 0  # Ctrl-C during start-up: stop quietly
            sys.stderr.write(f"flowdesk: {exc}\n")
            return 1
        except RuntimeError as exc:  # `prefect deploy` failed; its output is in the message
            sys.stderr.write(f"flowdesk: {exc}\n")
            return 1


def _start_all(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> int:
    api_url = settings.prefect_api
    python = sys.executable
    if settings.prefect_api_url and prefect_reachable(api_url):
        sys.stdout.write(f"flowdesk: using the Prefect API at {api_url}\n")
        if settings.prefect_redis_url:
            sys.stdout.write(
                "flowdesk: FLOWDESK_PREFECT_REDIS_URL is ignored: it applies to a Prefect "
                "server flowdesk starts\n"
            )
    elif settings.prefect_api_url:
        sys.stderr.write(
            f"flowdesk: PREFECT_API_URL={api_url} does not answer; start that server or "
            "unset PREFECT_API_URL to let flowdesk start one\n"
        )
        return 1
    else:
        _start_prefect_server(supervisor, settings, env)
    setup_prefect(settings, env)
    supervisor.start(
        ServiceSpec(
            name="worker",
            argv=[
                python,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                settings.work_pool,
                "--type",
                settings.worker_type,
                "--limit",
                str(settings.worker_limit),
            ],
            env=env,
            cwd=PROJECT_DIR,
            **_worker_stop(settings),
        )
    )
    supervisor.start(
        ServiceSpec(
            name="api",
            argv=[python, "-m", "flowdesk.cli", "api", "--port", str(settings.api_port)],
            env=env,
            cwd=PROJECT_DIR,
            ready_url=f"http://{settings.api_host}:{settings.api_port}/health",
            ready_timeout=60,
        )
    )
    sys.stdout.write(
        "\nflowdesk is up:\n"
        f"  API          http://{settings.api_host}:{settings.api_port}  (docs at /docs)\n"
        f"  Prefect UI   {settings.prefect_ui}\n"
        f"  snapshots    {settings.database_url}\n"
        "  create a user with: flowdesk users create NAME [--admin]\n"
        "  Ctrl-C stops everything.\n\n"
    )
    sys.stdout.flush()
    return supervisor.wait()


def _start_prefect_server(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    """One process, or with FLOWDESK_PREFECT_REDIS_URL the API (`--no-services`) and then
    its services (flowdesk.prefect_services) once the API has migrated the database. The
    API runs Prefect's command line through flowdesk.prefect_cli (its collector tuned)."""
    problem = split_server_problem(settings, env)
    if problem is not None:
        raise StartupError(problem)
    split = bool(settings.prefect_redis_url)
    python = sys.executable
    argv = [python, "-m", "flowdesk.prefect_cli", "server", "start"]
    argv += ["--host", settings.prefect_host, "--port", str(settings.prefect_port)]
    argv += ["--no-services"] if split else []
    supervisor.start(
        ServiceSpec(
            name="prefect-server",
            argv=argv,
            env=env,
            cwd=PROJECT_DIR,
            ready_url=f"{settings.prefect_api}/health",
            ready_timeout=180,
        )
    )
    if split:
        supervisor.start(
            ServiceSpec(
                name="prefect-services",
                argv=[python, "-m", "flowdesk.prefect_services"],
                env=env,
                cwd=PROJECT_DIR,
            )
        )


def _worker_stop(settings: Settings) -> dict[str, Any]:
    """How the supervisor stops the worker: flowdesk's drains its flow runs, then hands
    back the rest (flowdesk/worker); Prefect's process worker gets the default."""
    if settings.worker_type != "flowdesk":
        return {}
    return {
        "graceful": True,
        "stop_timeout": settings.worker_drain_seconds + WORKER_STOP_MARGIN_SECONDS,
    }
