"""What OpenTelemetry tracing costs one ``chats.retrieve``, the network aside.

    python benchmarks/bench_tracing.py --lib "no provider"   # one case, one JSON line
    python benchmarks/run.py tracing                         # every case, a table
    python benchmarks/bench_tracing.py --paired              # the added µs, paired in-process

Each op is one whole ``await client.chats.retrieve(id)`` of an ``AsyncPostpress``: the URL,
the retry wrapper, the span (or none), the decode of ``data/chat.json``, with the transport's
``send`` answering from memory, so that what is left is the SDK's own work per call and the
differences between the cases are tracing's cost alone. The coroutine is driven by hand
(it never suspends), so no event loop's overhead is in the figure either.

- ``not installed`` (baseline): ``opentelemetry`` cannot be imported; the client's resources
  get the plain request function.
- ``no provider``: ``opentelemetry-api`` installed, no tracer provider set: the span is the
  API's non-recording one.
- ``SDK provider``: the OpenTelemetry SDK's ``TracerProvider`` with a ``BatchSpanProcessor``
  whose exporter discards the batches: every span is recorded with its attributes and queued,
  as in a traced service (the export itself happens in the processor's thread, pinned to the
  same core, so it counts in the figure).
- ``SDK provider, sampled out``: the same provider with ``ALWAYS_OFF`` sampling: a traced
  service that samples this request out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from _harness import Op, Suite, main

PAYLOAD = Path(__file__).parent / "data" / "chat.json"
CHAT_ID: str = json.loads(PAYLOAD.read_bytes())["id"]
"""The payload's own id: the SDK refuses a chat whose id is not the one asked for."""


def payload() -> bytes:
    data = json.loads(PAYLOAD.read_bytes())
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def retrieve_op() -> Op:
    """One ``retrieve`` per call, through a client whose transport answers from memory."""
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    import postpress_async as pp
    from postpress_async._transport import HttpResponse

    client = pp.AsyncPostpress(api_key="k", base_url="http://127.0.0.1:9/api/v1")
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    response = HttpResponse(200, headers, payload(), URL(client.base_url + "/chats/" + CHAT_ID))

    async def send(url: Any, budget: float | None = None) -> HttpResponse:
        return response

    client._transport.send = send  # type: ignore[method-assign]
    retrieve = client.chats.retrieve

    def op() -> Any:
        coroutine = retrieve(CHAT_ID)
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("retrieve suspended: the in-memory transport should not")

    chat = op()
    assert chat.last_message.attachments[0].size.width == 1600
    return op


def not_installed() -> Op:
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    op = retrieve_op()
    from postpress_async import _tracing

    assert _tracing._api() is None
    return op


def no_provider() -> Op:
    op = retrieve_op()
    from opentelemetry import trace

    assert not trace.get_current_span().is_recording()
    return op


def _sdk(sampler: Any = None) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        exported = 0

        def export(self, spans: Any) -> SpanExportResult:
            Discard.exported += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider() if sampler is None else TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    return provider, Discard


def sdk_provider() -> Op:
    provider, exporter = _sdk()
    op = retrieve_op()
    provider.force_flush()
    assert exporter.exported == 1  # the check call's span was recorded and exported
    return op


def sdk_sampled_out() -> Op:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    provider, exporter = _sdk(ALWAYS_OFF)
    op = retrieve_op()
    provider.force_flush()
    assert exporter.exported == 0
    return op


def describe() -> str:
    return (
        "One whole `await client.chats.retrieve(id)` per op, its transport answering a "
        f"{len(payload()):,}-byte `chat.json` from memory (no socket, no event loop): the "
        "SDK's own work per call, with tracing in each state. On the network a call takes "
        "~200 µs more (see the sync suite's `AsyncPostpress (no portal)` row)."
    )


SUITE = Suite(
    name="tracing",
    title="Tracing overhead per chats.retrieve",
    baseline="not installed",
    cases={
        "not installed": not_installed,
        "no provider": no_provider,
        "SDK provider": sdk_provider,
        "SDK provider, sampled out": sdk_sampled_out,
    },
    packages=["opentelemetry-api", "opentelemetry-sdk", "msgspec", "postpress_async"],
    describe=describe,
)


def paired(rounds: int = 40, calls: int = 2_000) -> None:
    """Per tracing state, in one process: the plain and the traced path, timed alternately.

    Processes differ by more than tracing's cost on a busy machine, so each state also runs
    here (in a process of its own), timing blocks of ``calls`` through a client with the
    plain request function (what a client gets without OpenTelemetry) and through one with
    the traced function, alternating; the added µs is the difference of the medians.
    """
    import subprocess

    for state in ("no provider", "SDK provider, sampled out", "SDK provider"):
        code = f"import bench_tracing as b; b._paired_in_process({state!r}, {rounds}, {calls})"
        subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, check=True)


def _paired_in_process(state: str, rounds: int, calls: int) -> None:
    import statistics
    import time

    if state == "SDK provider":
        _sdk()
    elif state == "SDK provider, sampled out":
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        _sdk(ALWAYS_OFF)
    traced, plain = retrieve_op(), retrieve_op()
    chats: Any = next(
        cell.cell_contents.__self__
        for cell in plain.__closure__ or ()
        if hasattr(cell.cell_contents, "__self__")
    )
    chats._request = chats._request.__self__._request  # the plain path, as if not installed
    times: dict[str, list[float]] = {"plain": [], "traced": []}
    for round_ in range(rounds):
        pair = [("plain", plain), ("traced", traced)]
        for name, op in pair if round_ % 2 else reversed(pair):
            start = time.perf_counter()
            for _ in range(calls):
                op()
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    plain_us, traced_us = (statistics.median(times[k]) for k in ("plain", "traced"))
    print(
        f"{state:<26} plain {plain_us:6.2f} µs  traced {traced_us:6.2f} µs  "
        f"added {traced_us - plain_us:6.2f} µs"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--paired"]:
        paired()
    else:
        main(SUITE)
