"""``postpress chats get-many`` stopped and resumed, failing fast, and the faulty fake server.

Real subprocesses, real signals, a real FakePostpress: what is asserted is what ends up in the
files and on the server.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CLI
from support import HANG, clean_env, closed_port, env_for, run

import postpress_async as pp
from postpress_async import _cli_fake
from postpress_async.testing import FakePostpress


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(f"{chat_id}\n" for chat_id in ids), encoding="utf-8")
    return path


def written_ids(out: Path, errors: Path) -> Counter[str]:
    """Every id in the output (by chat id) and the errors file (first column), with counts."""
    seen: Counter[str] = Counter()
    if out.exists():
        for line in out.read_bytes().splitlines():
            seen[json.loads(line)["id"]] += 1
    if errors.exists():
        for line in errors.read_text(encoding="utf-8").splitlines():
            seen[line.split("\t", 1)[0]] += 1
    return seen


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def wait_for_progress(out: Path, proc: subprocess.Popen[str], before: int = 0) -> None:
    """Until the run has written past ``before`` bytes (it is mid-batch), or it has ended."""
    deadline = time.monotonic() + HANG
    while proc.poll() is None and size(out) <= before:
        assert time.monotonic() < deadline, "get-many never wrote a chat"
        time.sleep(0.01)


@pytest.fixture
def slow_server() -> Iterator[FakePostpress]:
    """A fake server in a thread whose answers take 2-20 ms, so a batch is still running when
    the test signals it."""
    with FakePostpress(latency=(0.002, 0.02)) as fake:
        yield fake


def test_resume_after_sigterm_three_times_ends_with_each_id_once(
    slow_server: FakePostpress, tmp_path: Path
) -> None:
    ids = slow_server.add_chats(1_200)
    for chat_id in ids[5::40]:  # some ids fail for good: they belong in the errors file
        slow_server.fail(chat_id, error=pp.ErrorType.RESOURCE_NOT_FOUND, times=None)
    id_file = write_ids(tmp_path / "ids.txt", ids)
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.tsv"
    args = ["chats", "get-many", str(id_file), "-o", str(out), "--errors", str(errors)]
    args += ["--concurrency", "16", "--no-progress"]
    draw = random.Random(11)
    for round_number in range(3):
        before = size(out)
        proc = start(args if round_number == 0 else [*args, "--resume"], env_for(slow_server))
        wait_for_progress(out, proc, before)
        time.sleep(draw.uniform(0.0, 0.3))  # a random point of the batch
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG)
        assert "Traceback" not in err, err
        if proc.returncode == 0 or proc.returncode == 1:
            break  # finished before the signal landed: nothing left to resume
        assert proc.returncode == 143, err
        last = err.strip().splitlines()[-1]
        assert last.startswith("SIGTERM: fetched "), err
        assert "not attempted" in last
        assert last.endswith("--resume"), last
        assert "resume with: postpress chats get-many" in last
        seen = written_ids(out, errors)
        assert max(seen.values()) == 1, [i for i, n in seen.items() if n > 1]
        counts = last.split(": fetched ")[1]
        fetched = int(counts.split(",")[0])
        left = int(counts.split("not attempted ")[1].split(";")[0])
        assert len(seen) + left == len(ids)
        assert fetched <= len(seen)
    final = run([*CLI, *args, "--resume"], env=env_for(slow_server))
    assert final.returncode == 1, final.stderr  # the planted failures
    seen = written_ids(out, errors)
    assert set(seen) == set(ids)
    assert set(seen.values()) == {1}
    failed = {line.split("\t")[0] for line in errors.read_text(encoding="utf-8").splitlines()}
    assert failed == set(ids[5::40])


def test_sigint_stops_cleanly_with_130_and_resume_finishes(
    slow_server: FakePostpress, tmp_path: Path
) -> None:
    ids = slow_server.add_chats(800)
    id_file = write_ids(tmp_path / "ids.txt", ids)
    out = tmp_path / "out.jsonl"
    args = ["chats", "get-many", str(id_file), "-o", str(out), "--concurrency", "8"]
    proc = start(args, env_for(slow_server))
    wait_for_progress(out, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("SIGINT: fetched ")
    written_before = len(out.read_bytes().splitlines())
    before = slow_server.request_count
    final = run([*CLI, *args, "--resume"], env=env_for(slow_server))
    assert final.returncode == 0, final.stderr
    seen = written_ids(out, tmp_path / "none")
    assert set(seen) == set(ids)
    assert set(seen.values()) == {1}
    assert slow_server.request_count - before == len(ids) - written_before  # none fetched twice


def test_resume_after_sigkill_trims_a_torn_line(slow_server: FakePostpress, tmp_path: Path) -> None:
    ids = slow_server.add_chats(600)
    id_file = write_ids(tmp_path / "ids.txt", ids)
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.tsv"
    args = ["chats", "get-many", str(id_file), "-o", str(out), "--errors", str(errors)]
    proc = start(args, env_for(slow_server))
    wait_for_progress(out, proc)
    proc.kill()
    proc.communicate(timeout=HANG)
    final = run([*CLI, *args, "--resume"], env=env_for(slow_server))
    assert final.returncode == 0, final.stderr
    seen = written_ids(out, errors)
    assert set(seen) == set(ids)
    assert set(seen.values()) == {1}


def test_resume_needs_an_output_file(slow_server: FakePostpress) -> None:
    result = run([*CLI, "chats", "get-many", "--resume"], env=env_for(slow_server), stdin="x\n")
    assert result.returncode == 2
    assert "--resume needs --output" in result.stderr


def test_a_wrong_key_stops_get_many_with_its_exit_code(
    slow_server: FakePostpress, tmp_path: Path
) -> None:
    ids = slow_server.add_chats(10_000)
    id_file = write_ids(tmp_path / "ids.txt", ids)
    env = clean_env(POSTPRESS_API_KEY="pp_wrong", POSTPRESS_BASE_URL=slow_server.base_url)
    args = [*CLI, "chats", "get-many", str(id_file), "-o", str(tmp_path / "out.jsonl")]
    result = run([*args, "--concurrency", "32", "--api-key", "pp_wrong"], env=env)
    assert result.returncode == 7, result.stderr
    assert slow_server.request_count <= 2 * 32
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: AuthenticationError 401 errors/invalid_credentials")
    assert "[request_id=req_" in lines[-1]
    assert lines[-2].startswith("stopped by AuthenticationError: fetched 0, failed 0")
    assert "pp_wrong" not in result.stderr  # the resume command leaves the key out


def test_every_error_line_and_the_errors_file_carry_the_request_id(
    slow_server: FakePostpress, tmp_path: Path
) -> None:
    ids = slow_server.add_chats(30)
    for chat_id in ids[:6]:
        slow_server.fail(chat_id, error=pp.ErrorType.ACCOUNT_RESTRICTED, times=None)
    errors = tmp_path / "errors.tsv"
    id_file = write_ids(tmp_path / "ids.txt", ids)
    args = ["chats", "get-many", str(id_file), "-o", str(tmp_path / "o.jsonl")]
    to_file = run([*CLI, *args, "--errors", str(errors)], env=env_for(slow_server))
    to_stderr = run([*CLI, *args], env=env_for(slow_server))
    served = {r.request_id for r in slow_server.requests}
    for text in (errors.read_text(encoding="utf-8"), to_stderr.stderr):
        lines = [line for line in text.splitlines() if "\t" in line]
        assert len(lines) == 6
        for line in lines:
            request_id = line.split("[request_id=")[1].rstrip("]")
            assert request_id in served
    assert to_file.returncode == to_stderr.returncode == 1
    one = run([*CLI, "chats", "get", ids[0]], env=env_for(slow_server))
    assert one.returncode == 8
    assert one.stderr.strip().split("[request_id=")[1].rstrip("]") in {
        r.request_id for r in slow_server.requests
    }


def test_rate_limit_flag_is_validated(slow_server: FakePostpress) -> None:
    result = run(
        [*CLI, "chats", "get-many", "--rate-limit", "0"], env=env_for(slow_server), stdin="x\n"
    )
    assert result.returncode == 2
    assert "--rate-limit" in result.stderr


# -- the faulty fake server ----------------------------------------------------------------------


def test_faults_are_drawn_reproducibly_from_documented_ids() -> None:
    plans = []
    for _ in range(2):
        with FakePostpress() as server:
            ids = server.add_chats(2_000, seed=3)
            plan = _cli_fake.inject_faults(server, ids, 0.1, seed=3)
            plans.append(
                (
                    [(f.chat_id, f.error, f.remaining) for f in plan.retryable],
                    [(f.chat_id, f.error) for f in plan.for_good],
                )
            )
    assert plans[0] == plans[1]
    retryable, for_good = plans[0]
    assert 100 < len(retryable) + len(for_good) < 300
    documented = {str(e) for e in pp.ErrorType}
    assert {e for _, e, _ in retryable} <= documented
    assert {e for _, e in for_good} <= documented
    stoppers = {"errors/missing_credentials", "errors/invalid_credentials"}
    assert not stoppers & {e for _, e in for_good}


def test_fake_server_with_faults_and_ids_out(tmp_path: Path) -> None:
    ids_file, out, errors = tmp_path / "ids.txt", tmp_path / "out.jsonl", tmp_path / "err.tsv"
    port = closed_port()
    faults = ["--fault-rate", "0.2", "--seed", "5", "--ids-out", str(ids_file)]
    proc = subprocess.Popen(
        [*CLI, "fake-server", "--port", str(port), "--chats", "400", *faults],
        env=clean_env(POSTPRESS_API_KEY="pp_fault_key"),
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = ""
        while "postpress chats get" not in banner:
            line = proc.stderr.readline()
            assert line, f"fake-server ended: {banner}"
            banner += line
        assert "fail for good" in banner
        served = ids_file.read_text(encoding="utf-8").split()
        assert len(served) == len(set(served)) == 400
        env = clean_env(
            POSTPRESS_API_KEY="pp_fault_key",
            POSTPRESS_BASE_URL=f"http://127.0.0.1:{port}/api/v1",
        )
        args = ["chats", "get-many", str(ids_file), "-o", str(out), "--errors", str(errors)]
        result = run([*CLI, *args], env=env)
        assert result.returncode == 1, result.stderr
        seen = written_ids(out, errors)
        assert set(seen) == set(served)
        failed = errors.read_text(encoding="utf-8").splitlines()
        for_good = int(banner.split(" ids fail for good")[0].rsplit(" ", 1)[1])
        assert len(failed) == for_good > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=HANG)


def test_uvloop_is_used_by_the_cli_when_installed_and_can_be_turned_off() -> None:
    pytest.importorskip("uvloop")
    demo = [*CLI, "demo", "--chats", "300"]
    with_uvloop = run(demo, env=clean_env())
    without = run(demo, env=clean_env(POSTPRESS_UVLOOP="0"))
    assert with_uvloop.returncode == without.returncode == 0, with_uvloop.stderr
    assert with_uvloop.stderr.strip().endswith("on uvloop")
    assert without.stderr.strip().endswith("on asyncio")
    assert "faults injected" in with_uvloop.stderr
    assert os.environ.get("POSTPRESS_UVLOOP") is None


def test_sigterm_ends_any_command_with_143_not_silently(slow_server: FakePostpress) -> None:
    ids = slow_server.add_chats(1)
    slow_server.latency = 30.0
    proc = start(["chats", "get", ids[0]], env_for(slow_server))
    deadline = time.monotonic() + HANG
    while slow_server.in_flight == 0:
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "terminated"
    assert "Traceback" not in err
