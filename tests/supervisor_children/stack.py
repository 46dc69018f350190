"""Supervise an HTTP child and a stubborn child the way `flowdesk up` does; exit with wait()."""

import os
import sys
from pathlib import Path

from flowdesk.supervisor import ServiceSpec, Supervisor

here = Path(__file__).parent
port, stop_timeout = int(sys.argv[1]), float(sys.argv[2])
env = {**os.environ, "PYTHONUNBUFFERED": "1"}
supervisor = Supervisor()
supervisor.install_signal_handlers()
with supervisor:
    supervisor.start(
        ServiceSpec(
            "web",
            [sys.executable, str(here / "http_child.py"), str(port)],
            env,
            ready_url=f"http://127.0.0.1:{port}/",
            ready_timeout=10,
        )
    )
    supervisor.start(
        ServiceSpec(
            "stubborn",
            [sys.executable, str(here / "stubborn.py")],
            env,
            stop_timeout=stop_timeout,
        )
    )
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    code = supervisor.wait()
sys.exit(code)
