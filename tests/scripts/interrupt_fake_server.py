"""``postpress fake-server``, interrupted while aiohttp's ``eof_received`` runs.

Ctrl-C arrives at a moment of its own choosing; this script makes it arrive at the worst one,
inside a protocol callback (a client half-closing its connection), where uvloop catches the
``KeyboardInterrupt`` Python's default handler raises and the server would serve on. Prints
``serving on LOOP`` once the server is up; exits with the command's exit code.

Usage: python interrupt_fake_server.py PORT
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

from aiohttp import web_protocol

from postpress_async import _cli
from postpress_async._loops import loop_name

PORT = int(sys.argv[1])
_eof_received = web_protocol.RequestHandler.eof_received


def eof_received(self: web_protocol.RequestHandler) -> None:
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered while this callback runs
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:  # bytecodes, where a Python handler would raise
        pass
    _eof_received(self)


def half_close_a_connection() -> None:
    while True:
        try:
            client = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        except ConnectionRefusedError:
            time.sleep(0.01)
            continue
        print(f"serving on {loop_name()}", flush=True)
        client.shutdown(socket.SHUT_WR)  # the server's protocol gets eof_received
        client.recv(1)
        client.close()
        return


web_protocol.RequestHandler.eof_received = eof_received  # type: ignore[method-assign]
threading.Thread(target=half_close_a_connection, daemon=True).start()
sys.exit(_cli.main(["fake-server", "--port", str(PORT), "--chats", "1"]))
