"""The daemon subprocess of the e2e harness, able to say where it is stuck.

Started as `python -m detector run` is (runpy, `__main__`), with faulthandler listening on
SIGUSR1: when a stop does not finish in time, every thread's stack goes to the daemon's log
before the SIGKILL, so a hang in shutdown is a readable failure, not a bare exit code -9.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.e2e.harness import SECRET, DaemonProcess, until

_LAUNCH = (
    "import faulthandler, runpy, signal, sys; "
    "faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "sys.argv = ['detector', *sys.argv[1:]]; "
    "runpy.run_module('detector', run_name='__main__', alter_sys=True)"
)


class Daemon(DaemonProcess):
    async def start(self) -> Daemon:
        env = {**os.environ, "WEBHOOK_SECRET": SECRET}
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _LAUNCH,
                "run",
                "-c",
                str(self.config),
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(self.config.parent),
            )
        await until(self._ready, 20, "the daemon to be ready")
        return self

    async def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and the exit code; a daemon still running after `timeout` is dumped, killed."""
        if self.proc is None:
            return 0
        if self.proc.returncode is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(0.5)
            self.proc.kill()
            return await self.proc.wait()
