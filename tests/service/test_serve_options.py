"""`clerk-sync serve --framework/--workers/--no-access-log` and `db upgrade --framework`, on real processes."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import httpx

from clerk_sync.issuer import TokenIssuer
from tests.processes import CLI, free_port, log_text, run_cli, service, started, wait_for


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after the parenthesised command name
                found.add(int(entry.name))
    return found


def _connection_owners(port: int, pids: set[int]) -> dict[int, int]:
    """Which process holds each server-side end of an established TCP connection to ``port``: inode -> pid."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if local == f"0100007F:{port:04X}" and state == "01":  # 127.0.0.1:port, ESTABLISHED
            inodes.add(inode)
    owners = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # the process has exited
            continue
        for fd in descriptors:
            try:
                target = fd.readlink().name
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and int(match.group(1)) in inodes:
                owners[int(match.group(1))] = pid
    return owners


def test_workers_serve_from_distinct_processes(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """`--workers 2` runs two worker processes under the command, and both answer /me: the server end of the
    connections (read from /proc) is held by two distinct worker PIDs, every response a 200 for the same row."""
    env = {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False)}
    token = clerk_issuer.mint("user_workers", claims={"email": "w@example.com"})
    port = free_port()
    with service(tmp_path, "--workers", "2", env=env, port=port) as (base, process), ExitStack() as stack:
        # uvicorn names each worker it starts; other children (multiprocessing's resource tracker) serve nothing.
        def started_workers() -> set[int]:
            return {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log_text(tmp_path, port))}

        wait_for(lambda: len(started_workers()) >= 2, timeout=30, failure=lambda: log_text(tmp_path, port))
        workers = started_workers()
        assert workers <= _children(process.pid)  # both are processes under the command
        serving: set[int] = set()
        ids = set()
        for _ in range(200):  # the kernel hands each new connection to whichever worker accepts first
            client = stack.enter_context(httpx.Client(base_url=base, timeout=10))  # kept open: one connection each
            response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            ids.add(response.json()["id"])
            serving = set(_connection_owners(port, workers).values())
            if len(serving) == 2:
                break
    assert len(workers) == 2
    assert serving == workers  # the two processes uvicorn started are the ones holding the connections
    assert len(serving) == 2
    assert process.pid not in serving
    assert len(ids) == 1  # one row, whichever worker answered


def _access_logged(tmp_path: Path, *flags: str) -> str:
    """Run `serve --dev *flags`, make one request, stop it; everything it wrote (uvicorn logs access to stdout)."""
    port = free_port()
    output = tmp_path / f"serve-{port}.out"
    with started([CLI, "serve", "--dev", "--port", str(port), *flags], cwd=tmp_path, port=port, log=output):
        pass
    return output.read_text()


def test_no_access_log(tmp_path: Path) -> None:
    """Access lines are logged by default and not with `--no-access-log` (the service still answers)."""
    line = '"GET /healthz HTTP/1.1" 200'
    assert line in _access_logged(tmp_path)
    quiet = _access_logged(tmp_path, "--no-access-log")
    assert "Application startup complete" in quiet
    assert line not in quiet


def test_unknown_framework_exits_2_with_one_line(tmp_path: Path) -> None:
    """`--framework bottle` (not a framework clerk-sync serves) stops `serve` and `db upgrade` with exit code 2
    and one line naming the choices; `--framework fastapi` is accepted."""
    for args in (("serve", "--framework", "bottle"), ("db", "upgrade", "--framework", "bottle")):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(
            "error: --framework bottle: unknown; choose one of fastapi, django, flask, litestar"
        ), lines
    upgraded = run_cli("db", "upgrade", "--framework", "fastapi", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
