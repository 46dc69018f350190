"""A child that stops like the flowdesk worker: on SIGTERM it waits for its own child (in
its process group) to finish its work, then exits 0. A group-wide signal would kill it."""

import signal
import subprocess
import sys
import time
from types import FrameType


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


work = "import sys, time; time.sleep(1.5); sys.stdout.write('grandchild finished its work\\n')"
grandchild = subprocess.Popen([sys.executable, "-c", work])
say(f"grandchild {grandchild.pid}")


def drain(signum: int, frame: FrameType | None) -> None:
    say("draining")
    grandchild.wait()
    say("drained")
    sys.exit(0)


signal.signal(signal.SIGTERM, drain)
while True:
    time.sleep(0.1)
