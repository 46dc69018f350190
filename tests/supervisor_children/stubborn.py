"""Act like a Prefect process worker with a flow run: hard to stop.

Ignores the first SIGTERM (exits on the second), and first starts a grandchild in a
session of its own that ignores SIGTERM entirely. With --die-after S CODE
it exits by itself after S seconds, leaving the grandchild orphaned.
"""

import signal
import subprocess
import sys
import time
from types import FrameType

GRANDCHILD = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n"
terms = 0


def on_term(signum: int, frame: FrameType | None) -> None:
    global terms
    terms += 1
    sys.stdout.write(f"SIGTERM number {terms}\n")
    if terms >= 2:
        sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD], start_new_session=True)
sys.stdout.write(f"grandchild {grandchild.pid}\n")
if "--die-after" in sys.argv:
    at = sys.argv.index("--die-after")
    time.sleep(float(sys.argv[at + 1]))
    sys.stdout.write("giving up\n")
    sys.exit(int(sys.argv[at + 2]))
while True:
    time.sleep(0.1)
