"""The ``postpress`` command: fetch chats, run the fake server, or run the demo.

Chats go to stdout (or ``--output``) as wire JSON; errors go to stderr as one line each.
The exit code names the error family (see ``EXIT_CODES``), so scripts can branch on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO, Any

import msgspec

from . import _errors as errors
from ._client import AsyncPostpress
from ._config import API_KEY_ENV, BASE_URL_ENV, NOT_GIVEN, RetryPolicy, Timeout
from ._version import __version__

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES: dict[type[BaseException], int] = {
    errors.ConfigurationError: 3,
    errors.APIConnectionError: 4,
    errors.APITimeoutError: 5,
    errors.ResponseDecodeError: 6,
    errors.AuthenticationError: 7,
    errors.PermissionDeniedError: 8,
    errors.NotFoundError: 9,
    errors.BadRequestError: 10,
    errors.RateLimitError: 11,
    errors.ServerError: 12,
    errors.APIStatusError: 13,
}
"""Exit code per error family; the most specific class wins. 1: some ids of get-many failed."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception, by its most specific family in ``EXIT_CODES``."""
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(cls)
        if code is not None:
            return code
    return EXIT_SOME_FAILED


def describe(exc: BaseException) -> str:
    """One readable line: class, status, type and detail where the error has them."""
    parts = [type(exc).__name__]
    if isinstance(exc, errors.APIStatusError):
        parts.append(str(exc.status))
        if exc.type:
            parts.append(exc.type)
        text = exc.detail or exc.title or str(exc)
    else:
        text = str(exc)
    line = " ".join(parts) + (f": {text}" if text else "")
    return " ".join(line.split())


def _pretty(data: bytes) -> bytes:
    return msgspec.json.format(data, indent=2)


def _client(args: argparse.Namespace) -> AsyncPostpress:
    return AsyncPostpress(
        args.api_key,
        base_url=args.base_url,
        timeout=Timeout.coerce(args.timeout) if args.timeout is not None else Timeout(),
        max_retries=args.max_retries if args.max_retries is not None else NOT_GIVEN,
    )


async def cmd_get(args: argparse.Namespace) -> int:
    """``postpress chats get``: print one chat."""
    async with _client(args) as client:
        chat = await client.chats.retrieve(args.chat_id, account_id=args.account_id)
    sys.stdout.buffer.write(_pretty(chat.to_json()) + b"\n")
    return EXIT_OK


def _read_ids(source: IO[str]) -> Iterator[str]:
    for line in source:
        chat_id = line.strip()
        if chat_id and not chat_id.startswith("#"):
            yield chat_id


class _Progress:
    """A tqdm bar on stderr when stderr is a terminal (or forced); nothing otherwise."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            # A terminal that reports no size (a fresh pty) gets a fixed one, or tqdm draws
            # nothing at all.
            try:
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            fixed: dict[str, Any] = {} if sized else {"ncols": 80, "nrows": 24}
            self._bar = tqdm(
                total=total, unit="chat", file=sys.stderr, dynamic_ncols=sized, **fixed
            )

    def update(self, failed: int) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if failed:
                self._bar.set_postfix(failed=failed, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


async def fetch_to_jsonl(
    client: AsyncPostpress,
    ids: Any,
    *,
    out: IO[bytes],
    err: IO[str],
    concurrency: int,
    account_id: str | None = None,
    progress: bool = False,
    total: int | None = None,
) -> tuple[int, Counter[str], float]:
    """Stream chats to ``out`` as JSON lines; one line per failure to ``err``.

    Returns (fetched, failures by error type or class, elapsed seconds).
    """
    bar = _Progress(progress, total)
    fetched = 0
    failures: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        results = client.chats.retrieve_many(ids, account_id=account_id, concurrency=concurrency)
        async for result in results:
            if result.chat is not None:
                out.write(result.chat.to_json() + b"\n")
                fetched += 1
            else:
                assert result.error is not None
                failures[getattr(result.error, "type", None) or type(result.error).__name__] += 1
                err.write(f"{result.chat_id}\t{describe(result.error)}\n")
            bar.update(sum(failures.values()))
    finally:
        bar.close()
    return fetched, failures, time.perf_counter() - started


def summary(fetched: int, failures: Counter[str], elapsed: float) -> str:
    """The closing line(s) of a batch: counts, failures by type, and the rate."""
    failed = sum(failures.values())
    rate = (fetched + failed) / elapsed if elapsed > 0 else 0.0
    lines = [f"fetched {fetched}, failed {failed} in {elapsed:.2f}s ({rate:,.0f} chats/s)"]
    for kind, count in failures.most_common():
        lines.append(f"  {count:>6}  {kind}")
    return "\n".join(lines)


@contextlib.contextmanager
def _open_out(path: str | None) -> Iterator[IO[bytes]]:
    if path is None or path == "-":
        yield sys.stdout.buffer
    else:
        with open(path, "wb") as handle:
            yield handle


@contextlib.contextmanager
def _open_err(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stderr
    else:
        with open(path, "w", encoding="utf-8") as handle:
            yield handle


async def cmd_get_many(args: argparse.Namespace) -> int:
    """``postpress chats get-many``: stream ids in, chats out as JSON lines."""
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    total = None
    if show and args.file not in (None, "-") and os.path.isfile(args.file):
        with open(args.file, encoding="utf-8") as counting:  # a real bar needs the count
            total = sum(1 for _ in _read_ids(counting))
    source_cm = (
        contextlib.nullcontext(sys.stdin)
        if args.file in (None, "-")
        else open(args.file, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    )
    with source_cm as source, _open_out(args.output) as out, _open_err(args.errors) as err:
        async with _client(args) as client:
            fetched, failures, elapsed = await fetch_to_jsonl(
                client,
                _read_ids(source),
                out=out,
                err=err,
                concurrency=args.concurrency,
                account_id=args.account_id,
                progress=show,
                total=total,
            )
    print(summary(fetched, failures, elapsed), file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK


async def cmd_fake_server(args: argparse.Namespace) -> int:
    """``postpress fake-server``: serve generated chats until interrupted."""
    from .testing import FakePostpress

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or "pp_test_key"
    async with FakePostpress(api_key=api_key, port=args.port) as server:
        ids = server.add_chats(args.chats)
        print(f"fake postpress serving {len(ids)} chats at {server.base_url}", file=sys.stderr)
        print(f"  export {BASE_URL_ENV}={server.base_url}", file=sys.stderr)
        print(f"  export {API_KEY_ENV}={api_key}", file=sys.stderr)
        if ids:
            print(f"  e.g. postpress chats get {ids[0]}", file=sys.stderr)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    return EXIT_OK


_DEMO_FAULTS = (
    "errors/network_down",
    "errors/provider_error",
    "errors/request_timeout",
    "errors/service_unavailable",
)


async def cmd_demo(args: argparse.Namespace) -> int:
    """``postpress demo``: the SDK end to end against the embedded fake server."""
    from .testing import FakePostpress

    total = args.chats
    async with FakePostpress() as server:
        ids = server.add_chats(total, seed=7)
        # Weather a storm spread over the batch: one id in a hundred meets one or two retryable
        # faults (some with Retry-After) before its chat; the retry policy sees them through.
        storm = random.Random(7)
        for chat_id in ids[1::100]:
            server.fail(
                chat_id,
                error=storm.choice(_DEMO_FAULTS),
                times=storm.choice((1, 2)),
                retry_after=0 if storm.random() < 0.3 else None,
            )
        policy = RetryPolicy(max_retries=5, backoff_initial=0.01, backoff_max=0.2)
        async with AsyncPostpress(server.api_key, base_url=server.base_url, retry=policy) as client:
            print(f"fake postpress at {server.base_url} holding {total} chats\n", file=sys.stderr)
            print(f"client.chats.retrieve({ids[0]!r}):", file=sys.stderr)
            chat = await client.chats.retrieve(ids[0])
            sys.stdout.buffer.write(_pretty(chat.to_json()) + b"\n")
            sys.stdout.flush()
            print(f"\nclient.chats.retrieve_many({total} ids, concurrency=64):", file=sys.stderr)
            with open(os.devnull, "wb") as sink:
                fetched, failures, elapsed = await fetch_to_jsonl(
                    client,
                    ids,
                    out=sink,
                    err=sys.stderr,
                    concurrency=64,
                    progress=sys.stderr.isatty(),
                    total=total,
                )
    print(summary(fetched, failures, elapsed), file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK


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
    many.add_argument("--concurrency", type=_positive_int, default=32)
    many.add_argument("--account-id", help="the account resolving provider chat ids")
    many.add_argument("--output", "-o", metavar="FILE.jsonl", help="default: stdout")
    many.add_argument("--errors", metavar="FILE", help="failures, one per line (default: stderr)")
    many.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    many.set_defaults(run=cmd_get_many)

    fake = commands.add_parser("fake-server", help="run a fake postpress server")
    fake.add_argument("--port", type=int, default=8080)
    fake.add_argument("--chats", type=int, default=100, help="generated chats to hold")
    fake.add_argument("--api-key", help="key it accepts (default: $POSTPRESS_API_KEY)")
    fake.set_defaults(run=cmd_fake_server)

    demo = commands.add_parser("demo", help="run the SDK end to end against a fake server")
    demo.add_argument("--chats", type=_positive_int, default=10_000)
    demo.set_defaults(run=cmd_demo)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = asyncio.run(args.run(args))
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
