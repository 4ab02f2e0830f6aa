"""`.mfops/<host>/state.json`: format, validation, atomic writes, never committed."""

from __future__ import annotations

import json
import threading

import pytest

from mfops.errors import ConfigError
from mfops.server.client import Host, normalize_host
from mfops.store.builds import STATE_VERSION, BuildRecord, BuildState
from tests.gitrepo import GitRepo

D1 = "sha256:" + "1" * 64
M1 = "a" * 64
HOST = Host("http://127.0.0.1:11434")


def test_empty_when_there_is_no_file(tmp_path):
    state = BuildState.load(tmp_path / ".mfops", HOST)
    assert state.builds == {}
    assert not (tmp_path / ".mfops").exists()


def test_record_writes_versioned_file_and_gitignore(tmp_path):
    state = BuildState.load(tmp_path / ".mfops", HOST)
    state.record("bot:v1", BuildRecord(D1, M1, "created", "2026-01-01T00:00:00Z"))
    path = tmp_path / ".mfops" / "http_127.0.0.1_11434" / "state.json"
    data = json.loads(path.read_text())
    assert data == {
        "version": STATE_VERSION,
        "host": "http://127.0.0.1:11434",
        "builds": {
            "bot:v1": {
                "digest": D1,
                "manifest": M1,
                "action": "created",
                "built_at": "2026-01-01T00:00:00Z",
            }
        },
    }
    assert (tmp_path / ".mfops" / ".gitignore").read_text().splitlines()[-1] == "*"
    again = BuildState.load(tmp_path / ".mfops", HOST)
    assert again.get("bot:v1") == BuildRecord(D1, M1, "created", "2026-01-01T00:00:00Z")
    assert again.with_digest(D1) == ["bot:v1"]
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temp files left


def test_state_is_per_host_and_the_folder_name_has_no_credentials(tmp_path):
    secret = Host(normalize_host("https://bob:hunter2@gpu.example:443"))
    BuildState.load(tmp_path, secret).record("a:1", BuildRecord(D1, M1))
    BuildState.load(tmp_path, HOST).record("b:1", BuildRecord(D1, M1))
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert folders == ["http_127.0.0.1_11434", "https_gpu.example_443"]
    text = (tmp_path / "https_gpu.example_443" / "state.json").read_text()
    assert "hunter2" not in text and "bob" not in text
    assert BuildState.load(tmp_path, secret).get("b:1") is None


def test_git_never_sees_the_state(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write("m/Modelfile", "FROM llama3.2\n")
    repo.commit("init")
    BuildState.load(repo.root / ".mfops", HOST).record("m:1", BuildRecord(D1, M1))
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    repo.git("add", "--all")
    assert ".mfops" not in repo.git("diff", "--cached", "--name-only")


def _entry(digest: str, manifest: str, extra: str = "") -> str:
    return (
        '{"version": 1, "builds": {"a:1": {"digest": "'
        + digest
        + '", "manifest": "'
        + manifest
        + '"'
        + extra
        + "}}}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "state is not valid JSON"),
        ("[]", "state must be a JSON object"),
        ('{"version": 99, "builds": {}}', "unsupported state version 99"),
        ('{"version": 1, "builds": []}', "'builds' must be an object"),
        (_entry("x", M1), "builds.a:1.digest: expected 'sha256:'"),
        (_entry(D1, "sha256:x"), "builds.a:1.manifest: expected 64 hex digits"),
        (_entry(D1, M1, ', "action": "x"'), "bad action"),
    ],
)
def test_malformed_state_is_a_config_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / HOST.key / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        BuildState.load(tmp_path, HOST)
    assert info.value.path == str(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_unknown_sections_are_kept(tmp_path):
    path = tmp_path / HOST.key / "state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "builds": {}, "tests": {"x": 1}}))
    BuildState.load(tmp_path, HOST).record("a:1", BuildRecord(D1, M1))
    assert json.loads(path.read_text())["tests"] == {"x": 1}


def test_concurrent_records_all_land(tmp_path):
    state = BuildState.load(tmp_path, HOST)
    threads = [
        threading.Thread(target=state.record, args=(f"m{i}:1", BuildRecord(D1, M1)))
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(BuildState.load(tmp_path, HOST).builds) == 20
