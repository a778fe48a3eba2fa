"""An SMTP sink for the mail benchmark: aiosmtpd in a process of its own.

It accepts everything and keeps only what the check needs: how many messages
arrived, their Message-IDs (a message counted twice, or missing, fails the
scenario) and their bytes. The parent drives it over stdin/stdout, one command per
line: ``stats`` (a JSON line back), ``reset``, ``quit``.

Run: ``python -c "from bench.smtp_sink import main; main()"``; it prints
``ready <port>`` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import PYTHON, REPO, check

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: Counter[bytes] = Counter()
        self.bytes = 0
        self.missing_id = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.content
        head = data[: data.find(b"\r\n\r\n") + 2] if b"\r\n\r\n" in data else data
        found = _MESSAGE_ID.search(head)
        with self.lock:
            self.bytes += len(data)
            if found:
                self.ids[found.group(1)] += 1
            else:
                self.missing_id += 1
        return "250 OK"

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "messages": sum(self.ids.values()) + self.missing_id,
                "distinct_ids": len(self.ids),
                "duplicates": sum(n - 1 for n in self.ids.values() if n > 1),
                "missing_id": self.missing_id,
                "bytes": self.bytes,
            }

    def reset(self) -> None:
        with self.lock:
            self.ids.clear()
            self.bytes = 0
            self.missing_id = 0


def main() -> None:
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(sink.stats()), flush=True)
            elif command == "reset":
                sink.reset()
                print("ok", flush=True)
            elif command == "quit":
                break
    finally:
        controller.stop()


class SinkProcess:
    """The parent's handle on a running sink."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port

    def _ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.proc.stdout.readline().strip()  # type: ignore[union-attr]

    def stats(self) -> dict[str, int]:
        return json.loads(self._ask("stats"))

    def reset(self) -> None:
        check(self._ask("reset") == "ok", "the SMTP sink did not reset")

    def expect(self, count: int, what: str) -> dict[str, int]:
        """Raise unless ``count`` messages arrived, each Message-ID once."""
        stats = self.stats()
        check(stats["messages"] == count, f"{what}: the server got {stats['messages']} of {count}")
        check(stats["duplicates"] == 0, f"{what}: {stats['duplicates']} messages arrived twice")
        check(stats["distinct_ids"] == count, f"{what}: {stats['distinct_ids']} Message-IDs")
        return stats


@contextmanager
def running_sink() -> Iterator[SinkProcess]:
    proc = subprocess.Popen(
        [PYTHON, "-c", "from bench.smtp_sink import main; main()"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().split()  # type: ignore[union-attr]
        check(len(first) == 2 and first[0] == "ready", f"the SMTP sink did not start: {first}")
        yield SinkProcess(proc, int(first[1]))
        proc.stdin.write("quit\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
