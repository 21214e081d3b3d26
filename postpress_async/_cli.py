"""The ``postpress`` command: fetch chats, run the fake server, or run the demo.

Chats go to stdout (or ``--output``) as wire JSON; errors go to stderr as one line each, with
the request id. The exit code names the error family (see ``EXIT_CODES``), so scripts can
branch on it. ``get-many`` lives in ``_cli_many.py``; ``fake-server`` and ``demo`` in
``_cli_fake.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from . import _errors as errors
from ._cli_common import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    describe,
    exit_code_for,
    make_client,
    pretty,
)
from ._cli_many import cmd_get_many
from ._config import API_KEY_ENV, BASE_URL_ENV
from ._loops import run
from ._version import __version__

__all__ = ["EXIT_CODES", "main"]


async def cmd_get(args: argparse.Namespace) -> int:
    """``postpress chats get``: print one chat."""
    async with make_client(args) as client:
        chat = await client.chats.retrieve(args.chat_id, account_id=args.account_id)
    sys.stdout.buffer.write(pretty(chat.to_json()) + b"\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``postpress``."""
    parser = argparse.ArgumentParser(
        prog="postpress", description="Fetch postpress chats from the command line."
    )
    parser.add_argument("--version", action="version", version=f"postpress_async {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", help=f"API key (default: ${API_KEY_ENV})")
    common.add_argument("--base-url", help=f"API root (default: ${BASE_URL_ENV} or the real API)")
    common.add_argument("--timeout", type=float, help="seconds per attempt")
    common.add_argument("--max-retries", type=int, help="retries after the first attempt")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chats = commands.add_parser("chats", help="retrieve chats").add_subparsers(
        dest="chats_command", required=True, metavar="COMMAND"
    )
    get = chats.add_parser("get", parents=[common], help="print one chat as JSON")
    get.add_argument("chat_id", metavar="CHAT_ID")
    get.add_argument("--account-id", help="the account resolving a provider chat id")
    get.set_defaults(run=cmd_get)

    many = chats.add_parser("get-many", parents=[common], help="fetch many chats to JSON lines")
    many.add_argument("file", nargs="?", metavar="FILE", help="ids, one per line (default: stdin)")
    many.add_argument(
        "--concurrency",
        type=_positive_int,
        default=32,
        metavar="N",
        help="at most N requests in flight; with --adaptive, a ceiling (default: %(default)s)",
    )
    many.add_argument("--account-id", help="the account resolving provider chat ids")
    many.add_argument("--output", "-o", metavar="FILE.jsonl", help="default: stdout")
    many.add_argument("--errors", metavar="FILE", help="failures, one per line (default: stderr)")
    many.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    many.add_argument(
        "--resume",
        action="store_true",
        help="skip ids already in --output or --errors, and append to them",
    )
    many.add_argument(
        "--rate-limit", type=_positive_float, metavar="N", help="at most N requests per second"
    )
    many.add_argument(
        "--fail-fast",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stop at an error no id can get past, such as a wrong key (default: on)",
    )
    many.add_argument(
        "--adaptive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="back off together when the API is overloaded (default: on)",
    )
    many.set_defaults(run=cmd_get_many)

    fake = commands.add_parser("fake-server", help="run a fake postpress server")
    fake.add_argument("--port", type=int, default=8080)
    fake.add_argument(
        "--chats",
        type=int,
        default=100,
        help="generated chats to hold, besides the docs' example chat (default: %(default)s)",
    )
    fake.add_argument("--api-key", help="key it accepts (default: $POSTPRESS_API_KEY)")
    fake.add_argument(
        "--fault-rate", type=_share, default=0.0, metavar="P", help="share of ids given a fault"
    )
    fake.add_argument("--seed", type=int, default=0, help="seed of the chats and the faults")
    fake.add_argument(
        "--ids-out", metavar="FILE", help="write the generated chats' ids, one per line"
    )
    fake.set_defaults(run=_lazy("cmd_fake_server"))

    demo = commands.add_parser("demo", help="run the SDK end to end against a fake server")
    demo.add_argument("--chats", type=_positive_int, default=10_000)
    demo.add_argument(
        "--fault-rate", type=_share, default=0.01, metavar="P", help="share of ids given a fault"
    )
    demo.set_defaults(run=_lazy("cmd_demo"))
    return parser


def _lazy(name: str) -> Callable[[argparse.Namespace], Awaitable[int]]:
    # The fake server (and aiohttp.web) is imported only by the commands that run it.
    async def command(args: argparse.Namespace) -> int:
        from . import _cli_fake

        run_command: Callable[[argparse.Namespace], Awaitable[int]] = getattr(_cli_fake, name)
        return await run_command(args)

    return command


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _stop_on_signals(task: asyncio.Task[int], stopped_by: list[signal.Signals]) -> None:
    """SIGINT and SIGTERM cancel the command's task, as ``asyncio.Runner`` does for SIGINT.

    Handled by the loop, a signal never raises ``KeyboardInterrupt`` inside a callback, where
    uvloop would catch it and serve on (a fake-server hit while aiohttp's ``eof_received``
    ran). SIGTERM (systemd, Kubernetes, ``timeout``) ends a command as Ctrl-C does, never
    silently. SIGINT is taken over only from Python's default handler, as asyncio.Runner
    does: a command started with it ignored (a background job of a script) keeps ignoring
    it. A second SIGINT raises ``KeyboardInterrupt``. ``get-many`` and ``fake-server``
    install handlers of their own on top, which stop them their own way.
    """
    loop = task.get_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stopped_by and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the task is slow to stop
        stopped_by.append(signum)
        task.cancel()

    signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signals.append(signal.SIGINT)
    # No signal handlers on Windows, nor outside the main thread (main() called from one).
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)


def _run_keeping_signal_handlers(command: Coroutine[Any, Any, int]) -> int:
    """``run(command)``, then SIGINT and SIGTERM handled as before it: uvloop's loop leaves its
    own handlers in place when it closes, and a process that called ``main()`` (a test, an
    application) would no longer stop on Ctrl-C or SIGTERM."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(command)
    finally:
        # Not in the main thread, or a handler not set from Python (None): leave them.
        with contextlib.suppress(ValueError, TypeError):
            for signum, handler in saved.items():
                if handler is not None:
                    signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    stopped_by: list[signal.Signals] = []

    async def command() -> int:
        task = asyncio.current_task()
        assert task is not None
        _stop_on_signals(task, stopped_by)
        result: int = await args.run(args)
        return result

    try:
        code = _run_keeping_signal_handlers(command())
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        if stopped_by[0] == signal.SIGINT:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep Python's final flush of
        # stdout from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (errors.PostpressError, ValueError, TypeError, OSError) as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return exit_code_for(exc) if isinstance(exc, errors.PostpressError) else EXIT_USAGE
    return code
