"""A pre-imported parent that forks real ``helserom run`` processes for the SIGKILL test.

Importing the gateway (scipy, aiortc …) costs seconds of CPU; twenty restarts would spend the
test's budget on imports. This process imports once, then for each line ``<config> <root>``
on stdin forks a child that runs exactly ``helserom run --config <config>`` in its own
session (stdout/stderr to ``<root>/gateway.stdout|stderr``) and prints the child's pid.
Children are reaped automatically (SIGCHLD ignored). No thread runs before a fork.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from gateway.cli import app


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        config, root = line.split()
        assert threading.active_count() == 1, "fork only without threads"
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.chdir(root)
                out = os.open(f"{root}/gateway.stdout", os.O_WRONLY | os.O_APPEND)
                err = os.open(f"{root}/gateway.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(out, 1)
                os.dup2(err, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                app(["run", "--config", config], standalone_mode=False)
                code = 0
            finally:
                os._exit(code)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
