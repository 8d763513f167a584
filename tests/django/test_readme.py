"""The README's Django section, applied to a fresh ``django-admin startproject``: exactly those lines work.

The blocks tagged ``# django: <file>`` are appended to that file of the new project; the project migrates, and
a signed token gets its user from the README's ``/me`` view through Django's test client, in a child process
with the project's own settings (nothing of this suite's configuration leaks in).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from clerk_sync.issuer import TokenIssuer
from tests.processes import clean_env

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n# django: (?P<file>[\w.]+)\n(?P<code>.*?)```", re.DOTALL)

CHILD = """
import json, os, sys
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
token = os.environ["README_TOKEN"]
signed = client.get("/me", headers={"Authorization": f"Bearer {token}"})
again = client.get("/me", headers={"Authorization": f"Bearer {token}"})
anonymous = client.get("/me")
ready = client.get("/healthz")
print(json.dumps({
    "signed": [signed.status_code, signed.json()],
    "again": again.json(),
    "anonymous": [anonymous.status_code, anonymous["Content-Type"], anonymous.get("WWW-Authenticate")],
    "healthz": ready.json(),
}))
"""


def readme_blocks() -> list[tuple[str, str]]:
    return [(match["file"], match["code"]) for match in BLOCK.finditer(README.read_text())]


def test_the_readme_names_settings_views_and_urls() -> None:
    """The section has the three files a developer edits (so the test below cannot pass on an empty section)."""
    assert {name for name, _ in readme_blocks()} == {"settings.py", "views.py", "urls.py"}


def test_a_fresh_project_with_the_readme_lines_serves_me(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """startproject + the README's lines + migrate: ``/me`` answers the synced user for a signed token (the same
    id twice), 401 problem+json with a Bearer challenge without one, and ``/healthz`` is mounted."""
    admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(admin), "startproject", "mysite", str(tmp_path)], check=True, timeout=60)
    package = tmp_path / "mysite"
    for name, code in readme_blocks():
        target = package / name
        existing = target.read_text() if target.exists() else ""
        target.write_text(existing + "\n" + code)
    env = clean_env(
        {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False), "DJANGO_SETTINGS_MODULE": "mysite.settings"}
    )
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    env["README_TOKEN"] = clerk_issuer.mint("user_readme", claims={"email": "readme@example.com"})
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    status, body = result["signed"]
    assert status == 200, body
    assert (body["clerk_id"], body["email"]) == ("user_readme", "readme@example.com")
    assert result["again"] == body
    assert result["anonymous"] == [401, "application/problem+json", 'Bearer realm="clerk-sync"']
    assert result["healthz"] == {"status": "ok"}
