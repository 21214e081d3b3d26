"""The soak: ``retrieve_many`` over many ids with faults, through ``AsyncPostpress`` in one
event loop and through one ``Postpress`` shared by several threads.

Used by ``test_soak.py`` (10,000 ids) and ``scripts/soak.py`` (50,000 by default). Afterwards
file descriptors, tasks, threads and RSS must be back near where they started.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time

from fault_runner import SETTLE
from insides import loop_thread_of
from soak_plan import SoakPlan, SoakReport, check_result, check_totals
from support import SECRET_KEY as KEY
from support import open_fds, rss_bytes, until, until_sync

import postpress_async as pp
from postpress_async.testing import FakePostpress

SOAK_RETRY = pp.RetryPolicy(
    max_retries=3, backoff_initial=0.001, backoff_max=0.01, retry_after_max=0.01
)
RSS_SLACK = 96 * 1024 * 1024
"""RSS may end this much above where it started: the allocator keeps what it freed."""


def _resources_back(report: SoakReport, before: dict[str, int], after: dict[str, int]) -> None:
    for name, value in before.items():
        report.resources[name] = (value, after[name])
    if after["fds"] > before["fds"]:
        report.violate(f"file descriptors: {before['fds']} before, {after['fds']} after")
    if after.get("tasks", 0) > before.get("tasks", 0):
        report.violate(f"asyncio tasks: {before['tasks']} before, {after['tasks']} after")
    if after.get("threads", 0) > before.get("threads", 0):
        report.violate(f"threads: {before['threads']} before, {after['threads']} after")
    grown = after["rss_mib"] - before["rss_mib"]
    if grown * 1024 * 1024 > RSS_SLACK:
        report.violate(f"RSS grew by {grown} MiB (allowed {RSS_SLACK // 2**20})")


def _task_count() -> int:
    return len(asyncio.all_tasks())


async def _count_tasks() -> int:
    return _task_count()


async def soak_async(
    n: int, *, concurrency: int = 32, seed: int = 0, retry: pp.RetryPolicy = SOAK_RETRY
) -> SoakReport:
    """``retrieve_many`` over ``n`` ids with faults, one ``AsyncPostpress``, one event loop."""
    report = SoakReport("AsyncPostpress.retrieve_many", n)
    async with FakePostpress(api_key=KEY, record=False, latency=(0.0, 0.005)) as server:
        plan = SoakPlan(server, n, seed=seed)
        # A warm-up (faults not armed yet), so that first-use allocations are not "growth".
        async with pp.AsyncPostpress(KEY, base_url=server.base_url) as client:
            async for _ in client.chats.retrieve_many(plan.ids[:100]):
                pass
        await until(lambda: server.in_flight == 0 and _task_count() <= 1, SETTLE)
        server.reset()
        gc.collect()
        before = {"fds": open_fds(), "tasks": _task_count(), "rss_mib": rss_bytes() >> 20}
        seen: dict[str, int] = {}
        started = time.monotonic()
        client = pp.AsyncPostpress(KEY, base_url=server.base_url, retry=retry)
        try:
            results = client.chats.retrieve_many(plan.async_ids(), concurrency=concurrency)
            async for result in results:
                seen[result.chat_id] = seen.get(result.chat_id, 0) + 1
                check_result(plan, result, report)
        finally:
            await client.aclose()
        report.elapsed = time.monotonic() - started
        check_totals(plan, seen, report)
        if report.max_in_flight > concurrency:
            report.violate(f"{report.max_in_flight} requests in flight, concurrency {concurrency}")
        del results, client, seen
        if not await until(lambda: server.in_flight == 0, SETTLE):
            report.violate(f"the server still has {server.in_flight} requests in flight")
        await until(
            lambda: open_fds() <= before["fds"] and _task_count() <= before["tasks"], SETTLE
        )
        gc.collect()
        after = {"fds": open_fds(), "tasks": _task_count(), "rss_mib": rss_bytes() >> 20}
        _resources_back(report, before, after)
    return report


def soak_threads(n: int, *, threads: int = 4, concurrency: int = 16, seed: int = 0) -> SoakReport:
    """The same through one ``pp.Postpress`` shared by ``threads`` threads, each a share."""
    report = SoakReport(f"Postpress.retrieve_many from {threads} threads", n)
    with FakePostpress(api_key=KEY, record=False, latency=(0.0, 0.005)) as server:
        plan = SoakPlan(server, n, seed=seed)
        # A warm-up (faults not armed yet), so that first-use allocations are not "growth".
        with pp.Postpress(KEY, base_url=server.base_url) as warm:
            for _ in warm.chats.retrieve_many(plan.ids[:100]):
                pass
        server.reset()
        gc.collect()
        before = {
            "fds": open_fds(),
            "threads": threading.active_count(),
            "rss_mib": rss_bytes() >> 20,
        }
        seen: dict[str, int] = {}
        lock = threading.Lock()
        crashes: list[BaseException] = []
        client = pp.Postpress(KEY, base_url=server.base_url, retry=SOAK_RETRY)
        # The client's event loop thread (private to the SDK): its tasks are counted there.
        loop_thread = loop_thread_of(client)
        tasks_before = loop_thread.portal.call(_count_tasks)

        def work(share: list[str]) -> None:
            try:
                for result in client.chats.retrieve_many(
                    plan.lazy_ids(share), concurrency=concurrency
                ):
                    with lock:
                        seen[result.chat_id] = seen.get(result.chat_id, 0) + 1
                        check_result(plan, result, report)
            except BaseException as exc:  # reported as a violation below
                crashes.append(exc)

        started = time.monotonic()
        workers = [
            threading.Thread(target=work, args=(plan.ids[k::threads],), name=f"soak-{k}")
            for k in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        tasks_after = loop_thread.portal.call(_count_tasks)
        report.resources["tasks in the client's loop"] = (tasks_before, tasks_after)
        if tasks_after > tasks_before:
            report.violate(
                f"tasks in the client's loop: {tasks_before} before, {tasks_after} after"
            )
        client.close()
        report.elapsed = time.monotonic() - started
        for crash in crashes:
            report.violate(f"a thread raised {crash!r}")
        check_totals(plan, seen, report)
        if report.max_in_flight > threads * concurrency:
            report.violate(
                f"{report.max_in_flight} requests in flight, at most {threads} x {concurrency}"
            )
        seen.clear()
        until_sync(
            lambda: open_fds() <= before["fds"] and threading.active_count() <= before["threads"],
            SETTLE,
        )
        if server.in_flight:
            report.violate(f"the server still has {server.in_flight} requests in flight")
        gc.collect()
        after = {
            "fds": open_fds(),
            "threads": threading.active_count(),
            "rss_mib": rss_bytes() >> 20,
        }
        _resources_back(report, before, after)
    return report
