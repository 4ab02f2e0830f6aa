"""Git refs, model names and tags that look like options (`--upload-pack=...`, `-x`), contain
`..`, spaces or control characters: refused before they reach git or the server, one line,
exit 2.

`--upload-pack=touch SENTINEL` would make git run a command if it ever reached git as an
option; the sentinel file must never appear. The double's call log shows that no request
carrying the bad value was sent (a version probe may come first: it carries nothing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.promotekit import Release, make_release
from tests.promotekit import seeded_fixture as seeded  # noqa: F401


@pytest.fixture(scope="module")
def rel(tmp_path_factory: pytest.TempPathFactory):
    """One release for the whole module: every case below is refused and changes nothing."""
    from tests.behavekit import seeded_double

    double = seeded_double()
    try:
        yield make_release(tmp_path_factory.mktemp("names"), double)
    finally:
        double.stop()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sentinel") / "PWNED"


UPLOAD_PACK = "--upload-pack=touch {s}"
CASES: list[tuple[tuple[str, ...], str]] = [
    # refs, to git
    (
        ("diff", "--", UPLOAD_PACK),
        "invalid ref '--upload-pack=touch {s}': refs may not start with '-'",
    ),
    (("diff", "--", "--output={s}"), "invalid ref '--output={s}': refs may not start with '-'"),
    (("diff", "HEAD HEAD"), "invalid ref 'HEAD HEAD': refs may not contain spaces"),
    (("diff", "v1\x01"), "invalid ref 'v1\\x01': refs may not contain control characters"),
    (("diff", "HEAD@{1}"), "invalid ref 'HEAD@{1}': reflog syntax"),
    (
        ("diff", "HEAD:base/Modelfile"),
        "invalid ref 'HEAD:base/Modelfile': refs may not contain ':'",
    ),
    (("digest", "--ref", "a..b"), "invalid ref 'a..b': ranges ('..') are not refs"),
    (("ls", "--ref", UPLOAD_PACK), "invalid ref '--upload-pack=touch {s}'"),
    (("graph", "--ref", "-x"), "invalid ref '-x': refs may not start with '-'"),
    (("build", "--changed", "--since=" + UPLOAD_PACK), "invalid ref '--upload-pack=touch {s}'"),
    (("gate", "--since=" + UPLOAD_PACK), "invalid ref '--upload-pack=touch {s}'"),
    # repo model names
    (("build", "--", "-x"), "unknown model '-x'"),
    (("build", "--", "../base"), "unknown model '../base'"),
    (("test", "--", "-x"), "unknown model '-x'"),
    (("show", "--", "-x"), "unknown model '-x'"),
    # tags
    (("build", "base", "--tag=--x"), "invalid tag '--x'"),
    (("build", "base", "--tag", "../x"), "invalid tag '../x'"),
    (("build", "base", "--tag", "a..b"), "invalid tag 'a..b': '..' is not allowed in a tag"),
    (("build", "base", "--tag", "a b"), "invalid tag 'a b'"),
    (("build", "base", "--tag", "a\x01b"), "invalid tag 'a\\x01b'"),
    (("test", "--tag", "-x"), "invalid tag '-x'"),
    (("test", "--tag", "x/../y"), "invalid tag 'x/../y'"),
    (("promote", "--all", "--from=--upload-pack", "--to", "v1"), "invalid tag '--upload-pack'"),
    (("promote", "--all", "--from", "CAND", "--to", ".."), "invalid tag '..'"),
    (("promote", "--all", "--from", "CAND", "--to", "v1", "--alias=-x"), "invalid tag '-x'"),
    (("rollback", "base", "--to", "../v1"), "invalid tag '../v1'"),
    (("rollback", "base", "--to", "v1", "--alias", "a b"), "invalid tag 'a b'"),
    (("gate", "--candidate-tag", "-x"), "invalid tag '-x'"),
    (("gate", "--all", "--promote-to", ".."), "invalid tag '..'"),
    (("gate", "--all", "--promote-to", "v1", "--alias", "a..b"), "invalid tag 'a..b'"),
    # server model names
    (("import", "--", UPLOAD_PACK), "invalid model name '--upload-pack=touch {s}'"),
    (("import", "../x"), "invalid model name '../x'"),
    (("import", "a b"), "invalid model name 'a b'"),
    (("import", "base\x01"), "invalid model name 'base\\x01'"),
    (("diff", "--server", "--", "-x", "base:v1"), "invalid model name '-x'"),
    (("diff", "--server", "base:v1", "a b"), "invalid model name 'a b'"),
]


@pytest.mark.parametrize(
    ("args", "message"), CASES, ids=[" ".join(a).replace("\x01", "^A") for a, _ in CASES]
)
def test_refused_before_git_or_the_server(
    rel: Release, sentinel: Path, args: tuple[str, ...], message: str
):
    args = tuple(a.replace("{s}", str(sentinel)).replace("CAND", rel.tag()) for a in args)
    rel.double.calls.reset()
    code, out, err = rel.mfops(*args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message.replace("{s}", str(sentinel)) in lines[0]
    assert not sentinel.exists()
    # at most the liveness probe and a listing, which carry nothing of the input
    calls = rel.double.calls.all
    assert {(c.method, c.route) for c in calls} <= {("GET", "/api/version"), ("GET", "/api/tags")}


@pytest.mark.parametrize("folder", ["-x", "--upload-pack=x", "a..b", "a b", "tab\tname"])
def test_a_directory_named_like_an_option_is_not_a_model(tmp_path: Path, folder: str):
    from tests.cli_runner import invoke_mfops
    from tests.gitrepo import GitRepo

    repo = GitRepo(tmp_path / "repo")
    repo.write(f"{folder}/Modelfile", "FROM llama3.2:3b\n")
    repo.commit("odd name")
    code, _, err = invoke_mfops("-C", str(repo.root), "ls")
    assert code == 2
    [line] = err.strip().splitlines()
    assert "cannot name a model after this file" in line
