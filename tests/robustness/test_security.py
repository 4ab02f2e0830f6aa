"""Credentials never leak: a host like `http://user:PASSWORD@127.0.0.1:PORT` and an
`OLLAMA_API_KEY` never appear in stdout, stderr, the state, the lock, reports, JUnit,
baselines, the GitHub step summary or crash logs, whatever command runs and however it ends.

The commands run in-process against the Ollama double with the credentials on `--host` (and,
in one run, in OLLAMA_HOST); afterwards every byte mfops printed or wrote is searched.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.promotekit import Release, make_release
from tests.promotekit import seeded_fixture as seeded  # noqa: F401

PASSWORD = "pw-5ecret-9f2"
API_KEY = "sk-apikey-7d1e0c"
SECRETS = (PASSWORD, API_KEY)
TONE_SUITE = (
    "model: expert\ncases:\n  - name: same tone\n    prompt: How do Python decorators work?\n"
    "    assert:\n      - type: baseline\n"
)


class Recorder:
    """Runs mfops with credentials and keeps everything it printed."""

    def __init__(self, rel: Release, url: str) -> None:
        self.rel = rel
        self.url = url
        self.printed: list[tuple[tuple[str, ...], str]] = []

    def run(self, *args: str, host: bool = True, env: dict[str, str] | None = None) -> int:
        extra = ("--host", self.url) if host else ()
        code, out, err = self.rel.mfops(*args, *extra, env=env)
        self.printed.append((args, out + err))
        return code


def _secret_url(url: str) -> str:
    return url.replace("http://", f"http://mfops-user:{PASSWORD}@")


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts]


@pytest.fixture
def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Crash logs (tempfile.mkstemp) land here, so the test can read every one."""
    import tempfile

    folder = tmp_path / "crash-logs"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_no_command_prints_or_writes_the_password_or_the_api_key(
    tmp_path: Path,
    seeded,  # noqa: F811
    crash_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("OLLAMA_API_KEY", API_KEY)
    rel = make_release(tmp_path, seeded, build=False)
    cand = rel.commit({"expert/tone.test.yaml": TONE_SUITE}, "a suite with a baseline")
    url = _secret_url(seeded.url)
    rec = Recorder(rel, url)
    summary = tmp_path / "step-summary.md"
    reports = tmp_path / "reports"
    reports.mkdir()

    # the happy path, every writing and reading command
    assert rec.run("lock", "--update") == 0
    assert rec.run("build", "--all") == 0
    assert rec.run("build", "--all", "--format", "json") == 0
    assert rec.run("status") == 0
    assert rec.run("status", "--format", "json") == 0
    assert rec.run("test", "--format", "markdown", "--update-baseline") == 0
    rel.repo.commit("baselines")
    cand = rel.tag()
    assert rec.run("build", "--all") == 0
    assert rec.run("test", "--junit", str(reports / "test.xml")) == 0
    assert rec.run("test", "--format", "json", "--no-cache") == 0
    assert (
        rec.run(
            "gate",
            "--all",
            "--junit",
            str(reports / "gate.xml"),
            env={"GITHUB_STEP_SUMMARY": str(summary)},
        )
        == 0
    )
    assert (
        rec.run(
            "promote",
            "--all",
            "--from",
            cand,
            "--to",
            "v1",
            "--alias",
            "latest",
            "--junit",
            str(reports / "promote.xml"),
            "--format",
            "json",
        )
        == 0
    )
    assert rec.run("rollback", "expert", "--to", "v1") == 0
    assert rec.run("history") == 0
    assert rec.run("history", "--format", "json") == 0
    assert rec.run("diff", "--server", f"base:{cand}", f"expert:{cand}") in (0, 1)
    assert rec.run("import", f"expert:{cand}", "--stdout") == 0
    # the host from OLLAMA_HOST rather than --host
    assert rec.run("status", host=False, env={"OLLAMA_HOST": url}) == 0

    # failures and errors
    seeded.faults.fail_next("/api/create", times=3, status=500, error="boom")
    assert rec.run("build", "expert", "--force") == 1
    seeded.faults.fail_next("/api/chat", times=30, status=500, error="runner crashed")
    assert rec.run("test", "--no-cache", "--junit", str(reports / "failed.xml")) == 1
    seeded.faults.clear()
    seeded.faults.fail_next("/api/version", times=3, status=502, html=True)
    assert rec.run("status") == 2
    seeded.faults.latency["/api/tags"] = 1.0
    assert rec.run("status", "--timeout", "0.2") == 2
    seeded.faults.clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = _secret_url(f"http://127.0.0.1:{s.getsockname()[1]}")
    rec.url = dead
    assert rec.run("build", "--all") == 2
    assert rec.run("promote", "--all", "--from", cand, "--to", "v2") == 2
    rec.url = f"http://mfops-user:{PASSWORD}@127.0.0.1:notaport"
    assert rec.run("status") == 2
    assert rec.run("lock") == 2

    # an unexpected error: its one line and the crash log it points at
    rec.url = url

    def crash(self) -> str:
        raise RuntimeError(f"unexpected answer from {self.server.host.url}")

    monkeypatch.setattr("mfops.build.session.Session.probe", crash)
    monkeypatch.setattr("sys.argv", ["mfops", "-C", str(rel.root), "build", "--all", "--host", url])
    assert rec.run("build", "--all") == 3
    logs = list(crash_dir.glob("mfops-crash-*.log"))
    assert (
        len(logs) == 1 and "RuntimeError: unexpected answer from http://***@" in logs[0].read_text()
    )

    # nothing printed holds a secret ...
    for args, text in rec.printed:
        assert not _leaks(text), (args, _leaks(text), text[-2000:])
    # ... and nothing written does (state, lock, cache, baselines, reports, summary, logs)
    written = _files(rel.root) + _files(reports) + [summary] + logs
    assert any(p.name == "test-cache.json" for p in written)
    # ... nor do the release records in git (their host is the identity, no credentials)
    records = rel.repo.git("log", "-p", "--format=%B", "refs/mfops/history")
    assert '"host": "http://127.0.0.1:' in records and not _leaks(records)
    assert any("baselines" in p.parts for p in written)
    for path in written:
        assert not _leaks(path.read_text(errors="replace")), path
    # the state is per host and its folder is named without the credentials
    folders = sorted(
        p.name for p in (rel.root / ".mfops").iterdir() if p.is_dir() and p.name != "cache"
    )
    assert folders == [f"http_127.0.0.1_{seeded.port}"]
    assert json.loads(rel.ok("history", "--format", "json"))[0]["host"] == seeded.url


def test_the_lock_file_and_its_waiting_message_hold_no_credentials(tmp_path: Path, seeded):  # noqa: F811
    from mfops.store.writerlock import WriterLock

    rel = make_release(tmp_path, seeded, build=False)
    holder = WriterLock(rel.root / ".mfops", "mfops build")
    assert holder.acquire(timeout=0)
    try:
        code, out, err = rel.mfops(
            "build", "--all", "--host", _secret_url(seeded.url), env={"MFOPS_LOCK_TIMEOUT": "0"}
        )
    finally:
        holder.release()
    assert code == 2 and "held by pid" in err
    assert not _leaks(out + err + (rel.root / ".mfops" / "lock").read_text())


@pytest.mark.parametrize(
    "text",
    [
        "http://u:{pw}@127.0.0.1:1",
        "https://{pw}@example.com/x",
        "u:{pw}@127.0.0.1:11434",
        "argv: ['mfops', '--host', 'http://a:{pw}@h:1']",
        "ws://x:{pw}@[::1]:80",
    ],
)
def test_redact_removes_credentials_from_any_url(text: str):
    from mfops.server.hosts import redact

    redacted = redact(text.format(pw=PASSWORD))
    assert PASSWORD not in redacted and "***@" in redacted


def test_redact_leaves_ordinary_text_alone():
    from mfops.server.hosts import redact

    text = "mfops.lock:3: bases.llama3.2:3b: expected 'sha256:', see a@b.c at 12:30"
    assert redact(text) == text
