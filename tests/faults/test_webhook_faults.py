"""Webhooks under load and faults: `clerk-sync serve --workers 3` on PostgreSQL behind a TCP proxy, a steady
stream of signed webhooks (creates, updates, deletes, duplicates, out of order) and `/me` traffic, while the
database is cut off twice and one worker is killed with SIGKILL.

A sender that retries like Svix (anything but a 2xx, or no answer at all, is delivered again with backoff)
replays what failed. The ledger and the users table, read directly afterwards, must show every event applied
exactly once and the final state the version rules give; no request may get a 500, and any refusal must be a
503 carrying ``Retry-After`` (so Svix and browsers retry instead of dropping a change or signing a user out).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event
from tests.processes import CLI, free_port, run_cli, started, wait_for
from tests.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

WEBHOOK_USERS = 120
ME_USERS = 30
ME_CLIENTS = 4
SENDERS = 8
#: When (seconds after traffic starts) each fault happens; new events stop at STREAM_S, retries go on.
CUTS = ((4.0, 3.0), (15.0, 3.0))
KILL_AT = 10.0
STREAM_S = 20.0
DELIVERY_DEADLINE_S = 45.0
#: Connections to the killed worker may fail for this long after the kill; at no other time.
KILL_WINDOW_S = 5.0
BASE_MS = int(time.time() * 1000) - 3_600_000


@dataclass(frozen=True, slots=True)
class Event:
    msg_id: str
    clerk_id: str
    version: int
    kind: str  # user.created | user.updated | user.deleted
    email: str | None

    def envelope(self) -> dict[str, Any]:
        if self.kind == "user.deleted":
            data: dict[str, Any] = {"id": self.clerk_id, "object": "user", "deleted": True}
            return {"type": self.kind, "object": "event", "data": data, "timestamp": self.version}
        data = make_user_json(self.clerk_id, email=self.email, created_at=BASE_MS, updated_at=self.version)
        return {"type": self.kind, "object": "event", "data": data, "timestamp": self.version}


@dataclass
class Tally:
    """What the clients saw: each answer (time, route, status, has Retry-After) and each connection error."""

    start: float = field(default_factory=time.monotonic)
    answers: list[tuple[float, str, int, bool]] = field(default_factory=list)
    connection_errors: list[tuple[float, str]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    retried: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    served: set[str] = field(default_factory=set)

    def now(self) -> float:
        return time.monotonic() - self.start

    def record(self, route: str, response: httpx.Response) -> None:
        self.answers.append((self.now(), route, response.status_code, "retry-after" in response.headers))


def build_events(rng: random.Random) -> list[Event]:
    """Per user a create and two updates, and for every third user a deletion last; then shuffled within
    windows of 12, so a user's events often arrive out of order (a create after its update, an update after
    the deletion)."""
    events: list[Event] = []
    for n in range(WEBHOOK_USERS):
        clerk_id = f"user_wh_{n}"
        base = BASE_MS + n * 10
        events.append(Event(f"msg_{n}_c", clerk_id, base + 1, "user.created", f"{n}.v1@example.com"))
        events.append(Event(f"msg_{n}_u1", clerk_id, base + 2, "user.updated", f"{n}.v2@example.com"))
        events.append(Event(f"msg_{n}_u2", clerk_id, base + 3, "user.updated", f"{n}.v3@example.com"))
        if n % 3 == 0:
            events.append(Event(f"msg_{n}_d", clerk_id, base + 4, "user.deleted", None))

    # Interleave users: the creates, then the first updates, ... (a step is ``version - base``); every fifth
    # user's second update goes out in its first update's place, so it lands first and the other is stale.
    def slot(event: Event) -> tuple[int, int]:
        n = int(event.clerk_id.rsplit("_", 1)[1])
        step = event.version - (BASE_MS + n * 10)
        if n % 5 == 0 and step in (2, 3):
            step = 5 - step
        return step, n

    events.sort(key=slot)
    shuffled: list[Event] = []
    for i in range(0, len(events), 12):
        window = events[i : i + 12]
        rng.shuffle(window)
        shuffled.extend(window)
    return shuffled


def expected_state(events: list[Event]) -> dict[str, tuple[str | None, bool]]:
    """clerk_id -> (email, deleted) by the version rules: the newest profile wins, a deletion is final."""
    state: dict[str, tuple[int, str | None, bool]] = {}
    for event in events:
        version, email, deleted = state.get(event.clerk_id, (-1, None, False))
        if event.kind == "user.deleted":
            state[event.clerk_id] = (version, email, True)
        elif event.version > version:
            state[event.clerk_id] = (event.version, event.email, deleted)
    return {clerk_id: (email, deleted) for clerk_id, (_, email, deleted) in state.items()}


async def deliver(client: httpx.AsyncClient, base: str, secret: str, event: Event, tally: Tally) -> None:
    """Deliver until a 2xx, like Svix: every attempt re-signed with the same svix-id, backoff doubling from
    50 ms to 1 s, bounded by the test's deadline."""
    body_event = event.envelope()
    delay = 0.05
    attempts = 0
    while True:
        attempts += 1
        body, headers = sign_event(body_event, secret, msg_id=event.msg_id)
        try:
            response = await client.post(f"{base}/webhooks/clerk", content=body, headers=headers)
        except httpx.TransportError:
            tally.connection_errors.append((tally.now(), "webhook"))
        else:
            tally.record("webhook", response)
            if response.is_success:
                tally.outcomes[response.json()["status"]] += 1
                tally.acknowledged.add(event.msg_id)
                if attempts > 1:
                    tally.retried.add(event.msg_id)
                return
        if tally.now() > DELIVERY_DEADLINE_S:
            raise AssertionError(f"{event.msg_id} was not accepted after {attempts} attempts")
        await asyncio.sleep(delay)  # the backoff itself, not a wait for something that could be awaited
        delay = min(delay * 2, 1.0)


async def sender(
    client: httpx.AsyncClient, base: str, secret: str, queue: asyncio.Queue[Event | None], tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    while (event := await queue.get()) is not None:
        await deliver(client, base, secret, event, tally)
        if rng.random() < 0.15:  # Svix redelivers an acknowledged message now and then: a duplicate
            await deliver(client, base, secret, event, tally)


async def me_client(
    client: httpx.AsyncClient, base: str, tokens: list[tuple[str, str]], tally: Tally, stop: asyncio.Event, first: int
) -> None:
    """Round robin over the users from ``first``, so every one is asked for many times."""
    turn = first
    while not stop.is_set():
        sub, token = tokens[turn % len(tokens)]
        turn += 1
        try:
            response = await client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError:
            tally.connection_errors.append((tally.now(), "me"))
        else:
            tally.record("me", response)
            if response.is_success:
                tally.served.add(sub)
            if response.status_code == 503:  # a browser honours Retry-After too, but not for seconds in a test
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes under ``parent``: its children that run multiprocessing's spawn_main,
    minus multiprocessing's own resource tracker (read from /proc, no extra dependency)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


async def faults(proxy: TcpProxy, serve_pid: int, tally: Tally, log: list[str]) -> None:
    """The schedule: cut, restore, SIGKILL a worker, cut, restore; each step at its time."""
    steps: list[tuple[float, str]] = [(at, "cut") for at, _ in CUTS] + [(at + span, "restore") for at, span in CUTS]
    steps.append((KILL_AT, "kill"))
    for at, action in sorted(steps):
        await asyncio.sleep(max(0.0, at - tally.now()))  # a schedule in wall time: nothing else to await
        if action == "cut":
            await proxy.cut()
        elif action == "restore":
            await proxy.restore()
        else:
            workers = worker_pids(serve_pid)
            assert len(workers) == 3, workers
            os.kill(workers[0], signal.SIGKILL)
        log.append(f"{tally.now():5.1f}s {action}")


def in_kill_window(at: float) -> bool:
    return KILL_AT - 0.05 <= at <= KILL_AT + KILL_WINDOW_S


async def test_webhooks_survive_outages_and_a_killed_worker_under_load(
    tmp_path: Path, postgres_url: str, clerk_issuer: TokenIssuer
) -> None:
    """Every event applied exactly once, the table equal to the version rules' final state, no 500, and every
    refusal a 503 with Retry-After, through two database outages and a SIGKILLed worker under steady load."""
    secret = make_webhook_secret()
    upgraded = run_cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": postgres_url})
    assert upgraded.returncode == 0, upgraded.stderr
    proxy = await TcpProxy().start()
    via_proxy = make_url(postgres_url).set(port=proxy.port).render_as_string(hide_password=False)
    env = {
        "DATABASE_URL": via_proxy,
        "CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False),
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
    }
    rng = random.Random(14)
    events = build_events(rng)
    me_ids = [f"user_me_{n}" for n in range(ME_USERS)]
    tokens = [(sub, clerk_issuer.mint(sub, ttl=600, claims={"email": f"{sub}@example.com"})) for sub in me_ids]
    tally = Tally()
    fault_log: list[str] = []
    stack = ExitStack()
    try:
        # Blocking start-up on a thread: this loop runs the proxy the workers reach PostgreSQL through.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [CLI, "serve", "--port", str(port), "--workers", "3", "--no-access-log"]
        serving = started(command, cwd=tmp_path, port=port, log=tmp_path / "serve.log", env=env, timeout=90)
        process = await anyio.to_thread.run_sync(stack.enter_context, serving)
        await anyio.to_thread.run_sync(
            lambda: wait_for(
                lambda: len(worker_pids(process.pid)) == 3, timeout=30, failure=lambda: "3 workers did not start"
            )
        )
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=SENDERS)
        stop_me = asyncio.Event()
        limits = httpx.Limits(max_connections=SENDERS + ME_CLIENTS + 4)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            tally.start = time.monotonic()
            async with anyio.create_task_group() as group:
                group.start_soon(faults, proxy, process.pid, tally, fault_log)
                for n in range(SENDERS):
                    group.start_soon(sender, client, base, secret, queue, tally, n)
                for n in range(ME_CLIENTS):
                    group.start_soon(me_client, client, base, tokens, tally, stop_me, n * ME_USERS // ME_CLIENTS)
                pace = STREAM_S / len(events)
                for i, event in enumerate(events):
                    await asyncio.sleep(max(0.0, i * pace - tally.now()))  # a steady rate, in wall time
                    await queue.put(event)
                for _ in range(SENDERS):
                    await queue.put(None)
                stop_me.set()
            elapsed = tally.now()
    finally:
        await anyio.to_thread.run_sync(stack.close)
        await proxy.cut()

    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        ledger = [row["svix_id"] for row in await connection.fetch("SELECT svix_id FROM clerk_webhook_events")]
        users = {
            row["clerk_id"]: (row["email"], row["deleted_at"] is not None)
            for row in await connection.fetch("SELECT clerk_id, email, deleted_at FROM users")
        }
    finally:
        await connection.close()

    statuses = Counter((route, status) for _, route, status, _ in tally.answers)
    applied = sum(n for outcome, n in tally.outcomes.items() if outcome != "duplicate")
    print(
        f"\nfault test ({elapsed:.1f} s): faults {fault_log}\n"
        f"events sent {len(events)}, retried {len(tally.retried)}, applied {applied}, "
        f"duplicates {tally.outcomes['duplicate']}, outcomes {dict(tally.outcomes)}, ledger rows {len(ledger)}\n"
        f"requests by status {dict(sorted(statuses.items()))}, connection errors {len(tally.connection_errors)}"
    )

    sent_ids = {event.msg_id for event in events}
    assert tally.acknowledged == sent_ids
    assert sorted(ledger) == sorted(sent_ids)  # one ledger row per event: none lost, none applied twice
    # A /me user answered 200 at least once has its row; one only ever refused may or may not (a lost reply).
    me_rows = {sub: row for sub, row in users.items() if sub.startswith("user_me_")}
    assert {sub: row for sub, row in users.items() if sub not in me_rows} == expected_state(events)
    assert tally.served <= me_rows.keys() <= set(me_ids)
    assert all(row == (f"{sub}@example.com", False) for sub, row in me_rows.items())
    assert len(tally.served) == ME_USERS
    assert all(status != 500 for _, _, status, _ in tally.answers)
    refusals = [(at, route, status, retry_after) for at, route, status, retry_after in tally.answers if status >= 300]
    assert all(status == 503 and retry_after for _, _, status, retry_after in refusals), refusals[:10]
    assert all(in_kill_window(at) for at, _ in tally.connection_errors), tally.connection_errors
    # The faults were real: both outages refused requests, and events had to be delivered again.
    for at, span in CUTS:
        assert any(at <= t <= at + span + 1 and status == 503 for t, _, status, _ in tally.answers), (at, span)
    assert tally.retried
    # An answer lost after the commit (the cut came between COMMIT and its reply) makes the replay a duplicate,
    # so fewer applied answers than events is allowed; more would mean an event took effect twice.
    assert applied <= len(sent_ids)
