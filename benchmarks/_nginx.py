"""nginx as the network suites' server, where it is installed: ``data/chat.json`` to any GET.

    with running() as env: ...     # env: the URL (and client core) for the case processes

A server no Python client can come near on one core, with the headers a real one sends
(``Server``, ``Date``, ``Last-Modified``, ``ETag``, ``Accept-Ranges``, ``Connection``): the
client parses eight of them per response where the canned server (``_server.py``) sends two.
One process (``master_process off``), pinned to the server's core, keep-alive without limit,
no access log. The configuration and the payload live in a temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import CPU_ENV
from _server import PID_ENV, URL_ENV, chat_ids, cores, payload, stop

MAX_IDS = 10_000
"""Ids served (each a file holding a chat of that id): blocks of up to this many."""

CONFIG = """\
master_process off;
daemon off;
worker_processes 1;
{affinity}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {root};
  proxy_temp_path {root};
  fastcgi_temp_path {root};
  uwsgi_temp_path {root};
  scgi_temp_path {root};
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location ~ /chats/(?<chat_id>[A-Za-z0-9_]+)$ {{ try_files /chats/$chat_id.json =404; }}
  }}
}}
"""


def binary() -> str | None:
    """The nginx executable, or None where it is not installed (``apt-get install nginx``)."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()),
        None,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running() -> Iterator[dict[str, str]]:
    """Start nginx on a free port of 127.0.0.1; yield the environment the cases need."""
    nginx = binary()
    if nginx is None:
        raise SystemExit("nginx is not installed (apt-get install nginx-light)")
    server_cpu, client_cpu = cores()
    with tempfile.TemporaryDirectory(prefix="pp-bench-nginx-") as root:
        # The SDK refuses a chat whose id is not the one asked for: one file per id.
        chats = Path(root) / "chats"
        chats.mkdir()
        chat = json.loads(payload())
        for chat_id in ["chat_check", *chat_ids(MAX_IDS)]:
            body = json.dumps({**chat, "id": chat_id}, separators=(",", ":"), ensure_ascii=False)
            (chats / f"{chat_id}.json").write_text(body, encoding="utf-8")
        port = _free_port()
        affinity = "" if server_cpu is None else f"worker_cpu_affinity {1 << server_cpu:b};"
        config = Path(root) / "nginx.conf"
        config.write_text(CONFIG.format(root=root, port=port, affinity=affinity))
        proc = subprocess.Popen([nginx, "-c", str(config), "-p", root])
        try:
            _wait_for(port, proc)
            env = {URL_ENV: f"http://127.0.0.1:{port}", PID_ENV: str(proc.pid)}
            if client_cpu is not None:
                env[CPU_ENV] = str(client_cpu)
            yield env
        finally:
            stop(proc)


def _wait_for(port: int, proc: subprocess.Popen[bytes], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on port {port} within {within} s")
