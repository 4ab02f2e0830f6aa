"""mfops.repo.repository on real git repositories: roots, discovery, snapshots at refs,
path resolution."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mfops.errors import ConfigError, ModelfileError, RefError, RepoError
from mfops.repo.gitstore import GitStore
from mfops.repo.repository import CONFIG_FILE, Repo, RepoModel, Snapshot
from tests import gitrepo
from tests.gitrepo import GitRepo

git_repo = gitrepo.git_repo  # the fixture (also offered by conftest)

BASE = "# engine-bot\nFROM llama3.2:3b\nPARAMETER temperature 0.2\nSYSTEM You are helpful.\n"
CHILD = "FROM engine-bot\nSYSTEM You write Python.\n"
PIRATE = "FROM python-bot\nPARAMETER temperature 0.9\n"
CONFIG = "models:\n  engine-bot:\n    modelfile: BaseBot\n    description: The base.\n"


def company(repo: GitRepo, prefix: str = "") -> GitRepo:
    repo.write(f"{prefix}{CONFIG_FILE}", CONFIG)
    repo.write(f"{prefix}BaseBot", BASE)
    repo.write(f"{prefix}python-bot/Modelfile", CHILD)
    repo.write(f"{prefix}personas/pirate-python.Modelfile", PIRATE)
    return repo


def needs_no_enclosing_repo(path: Path) -> None:
    """Skip when the temporary directory itself lies inside a git repo or an mfops root."""
    for d in path.resolve().parents:
        if (d / ".git").exists() or (d / CONFIG_FILE).exists():
            pytest.skip(f"{d} encloses the temporary directory")


def same_models(a: Snapshot, b: Snapshot) -> None:
    assert list(a.models) == list(b.models)
    for name, model in a.models.items():
        other = b.models[name]
        assert (model.path, model.description, model.tests) == (
            other.path,
            other.description,
            other.tests,
        )
        assert model.modelfile.nodes == other.modelfile.nodes


# --------------------------------------------------------------------------- finding the root


def test_find_walks_up_to_mfops_yaml(git_repo):
    company(git_repo)
    repo = Repo.find(git_repo.root / "python-bot")
    assert repo.root == git_repo.root.resolve()
    assert repo.git_root == git_repo.root.resolve()
    assert repo.prefix == ""


def test_find_mfops_yaml_in_a_subdirectory_of_a_git_repo(git_repo):
    company(git_repo, "examples/")
    (git_repo.root / "examples" / "personas" / "deep").mkdir()
    repo = Repo.find(git_repo.root / "examples" / "personas" / "deep")
    assert repo.root == (git_repo.root / "examples").resolve()
    assert repo.git_root == git_repo.root.resolve()
    assert repo.prefix == "examples"


def test_find_falls_back_to_the_git_root(git_repo):
    git_repo.write("bots/a/Modelfile", BASE)
    repo = Repo.find(git_repo.root / "bots" / "a")
    assert repo.root == git_repo.root.resolve()
    assert list(repo.snapshot().models) == ["a"]


def test_find_uses_the_current_directory(git_repo, monkeypatch):
    company(git_repo)
    monkeypatch.chdir(git_repo.root / "personas")
    assert Repo.find().root == git_repo.root.resolve()


def test_find_from_a_file_starts_at_its_directory(git_repo):
    company(git_repo)
    assert Repo.find(git_repo.root / "python-bot" / "Modelfile").root == git_repo.root.resolve()


def test_explicit_directory_is_the_root(tmp_path):
    needs_no_enclosing_repo(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x.Modelfile").write_text(BASE)
    repo = Repo.find(explicit=plain)
    assert (repo.root, repo.git_root, repo.prefix) == (plain.resolve(), None, "")
    assert list(repo.snapshot().models) == ["x"]


def test_explicit_directory_inside_a_git_repo(git_repo):
    company(git_repo, "examples/")
    repo = Repo.find(explicit=git_repo.root / "examples")
    assert repo.prefix == "examples"


def test_explicit_directory_must_exist(tmp_path):
    with pytest.raises(RepoError) as err:
        Repo.find(explicit=tmp_path / "nope")
    assert str(err.value) == f"{tmp_path / 'nope'}: no such directory"


def test_nothing_found(tmp_path):
    needs_no_enclosing_repo(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RepoError) as err:
        Repo.find(empty)
    assert str(err.value) == (
        f"not inside an mfops repository: no mfops.yaml or .git in {empty.resolve()} or above "
        "(run in a repository, pass -C DIR, or create mfops.yaml)"
    )


# --------------------------------------------------------------------------- discovery


def test_discovery_by_conventions(git_repo):
    company(git_repo)
    git_repo.write("teams/support/helper.Modelfile", CHILD)
    git_repo.write(".hidden/secret/Modelfile", BASE)
    git_repo.write("node_modules/junk/Modelfile", BASE)
    git_repo.write(".venv/x.Modelfile", BASE)
    git_repo.write("notes/Modelfile.md", "not a Modelfile")
    git_repo.write("teams/.Modelfile", "not a Modelfile either")
    snap = Repo.find(git_repo.root).snapshot()
    assert {n: m.path for n, m in snap.models.items()} == {
        "engine-bot": "BaseBot",
        "helper": "teams/support/helper.Modelfile",
        "pirate-python": "personas/pirate-python.Modelfile",
        "python-bot": "python-bot/Modelfile",
    }
    bot = snap.models["engine-bot"]
    assert isinstance(bot, RepoModel)
    assert (bot.description, bot.tests, bot.dir) == ("The base.", (), "")
    assert snap.models["helper"].dir == "teams/support"
    assert bot.modelfile.path == "BaseBot"
    assert snap.models is snap.models  # computed once


def test_root_modelfile_is_named_after_the_root(tmp_path):
    root = tmp_path / "acme-bot"
    root.mkdir()
    (root / "Modelfile").write_text(BASE)
    snap = Repo.find(explicit=root).snapshot()
    assert list(snap.models) == ["acme-bot"]
    assert snap.models["acme-bot"].dir == ""


def test_listed_file_is_not_discovered_again(git_repo):
    git_repo.write(CONFIG_FILE, "models:\n  core:\n    modelfile: base/Modelfile\n")
    git_repo.write("base/Modelfile", BASE)
    assert list(Repo.find(git_repo.root).snapshot().models) == ["core"]


def test_listed_and_conventional_names_clash(git_repo):
    git_repo.write(CONFIG_FILE, "models:\n  python-bot:\n    modelfile: other.txt\n")
    git_repo.write("other.txt", BASE)
    git_repo.write("python-bot/Modelfile", CHILD)
    with pytest.raises(RepoError) as err:
        _ = Repo.find(git_repo.root).snapshot().models
    assert str(err.value) == (
        "two files claim the model name 'python-bot': other.txt and python-bot/Modelfile "
        "(rename one, or list them in mfops.yaml under different names)"
    )


def test_two_conventional_files_clash(git_repo):
    git_repo.write("a/bot/Modelfile", BASE)
    git_repo.write("b/bot/Modelfile", BASE)
    with pytest.raises(RepoError, match=r"'bot': a/bot/Modelfile and b/bot/Modelfile"):
        _ = Repo.find(git_repo.root).snapshot().models


def test_names_clash_case_insensitively(git_repo):
    git_repo.write("Bot/Modelfile", BASE)
    git_repo.write("bot.Modelfile", BASE)
    with pytest.raises(RepoError, match=r"two files claim the model name 'bot': Bot/Modelfile"):
        _ = Repo.find(git_repo.root).snapshot().models


def test_clash_at_a_ref_names_the_ref(git_repo):
    git_repo.write("a/bot/Modelfile", BASE)
    git_repo.write("bot.Modelfile", BASE)
    git_repo.commit()
    with pytest.raises(RepoError, match=r"HEAD:a/bot/Modelfile and HEAD:bot.Modelfile"):
        _ = Repo.find(git_repo.root).snapshot("HEAD").models


def test_invalid_conventional_name(git_repo):
    git_repo.write("my bot/Modelfile", BASE)
    with pytest.raises(RepoError) as err:
        _ = Repo.find(git_repo.root).snapshot().models
    assert str(err.value) == (
        "my bot/Modelfile: cannot name a model after this file: invalid model name 'my bot': "
        "model 'my bot' may only contain letters, digits, '_', '-' and '.' "
        "(rename it, or list it in mfops.yaml under a valid name)"
    )


def test_listed_modelfile_missing(git_repo):
    git_repo.write(
        CONFIG_FILE, "# bots\nmodels:\n  core:\n    description: x\n    modelfile: Core\n"
    )
    with pytest.raises(ConfigError) as err:
        _ = Repo.find(git_repo.root).snapshot().models
    assert str(err.value) == "mfops.yaml:5: models.core.modelfile: 'Core' does not exist"
    git_repo.commit()
    with pytest.raises(ConfigError) as err:
        _ = Repo.find(git_repo.root).snapshot("main").models
    assert (
        str(err.value) == "main:mfops.yaml:5: models.core.modelfile: 'Core' does not exist at main"
    )


def test_listed_modelfile_is_a_directory(git_repo):
    git_repo.write(CONFIG_FILE, "models:\n  core:\n    modelfile: core\n")
    git_repo.write("core/Modelfile", BASE)
    with pytest.raises(ConfigError, match=r"mfops.yaml:3: models.core.modelfile: 'core' is a dir"):
        _ = Repo.find(git_repo.root).snapshot().models


def test_invalid_modelfile_reports_its_path(git_repo):
    company(git_repo)
    git_repo.commit()
    git_repo.tag("v1")
    git_repo.write("python-bot/Modelfile", "FROM engine-bot\nSYSTEM\n")
    git_repo.commit()
    repo = Repo.find(git_repo.root)
    with pytest.raises(ModelfileError) as err:
        _ = repo.snapshot().models
    assert str(err.value).startswith("python-bot/Modelfile:2:")
    with pytest.raises(ModelfileError) as err:
        _ = repo.snapshot("HEAD").models
    assert str(err.value).startswith("HEAD:python-bot/Modelfile:2:")
    assert err.value.path == "HEAD:python-bot/Modelfile"
    assert list(repo.snapshot("v1").models) == ["engine-bot", "pirate-python", "python-bot"]


def test_no_config_gives_an_empty_config(git_repo):
    git_repo.write("a/Modelfile", BASE)
    snap = Repo.find(git_repo.root).snapshot()
    assert snap.config.models == {}
    assert snap.config.path == "mfops.yaml"


def test_config_errors_at_a_ref_name_the_ref(git_repo):
    git_repo.write(CONFIG_FILE, "models:\n  x:\n    modelfile: 3\n")
    git_repo.commit()
    with pytest.raises(ConfigError) as err:
        _ = Repo.find(git_repo.root).snapshot("HEAD").config
    assert str(err.value) == (
        "HEAD:mfops.yaml:3: models.x.modelfile: expected a non-empty string, got an integer"
    )


# --------------------------------------------------------------------------- snapshots at refs


def test_snapshots_at_refs_equal_the_working_tree(git_repo):
    company(git_repo)
    git_repo.write("mfops.lock", '{"bases": {}}\n')
    first = git_repo.commit("v1")
    git_repo.tag("v1.0.0")
    git_repo.tag("annotated", message="an annotated tag")
    git_repo.branch("release")
    git_repo.write("notes.txt", "unrelated change")
    git_repo.commit("notes")
    repo = Repo.find(git_repo.root)
    work = repo.snapshot()
    for ref in ("v1.0.0", "annotated", "release", first, first[:10], "HEAD~1", "HEAD^", "main"):
        snap = repo.snapshot(ref)
        assert snap.commit in (first, git_repo.head())
        assert snap.label == ref
        same_models(work, snap)
        assert snap.config == work.config.__class__(
            **{**work.config.__dict__, "path": f"{ref}:mfops.yaml"}
        )
        assert snap.lock_text() == work.lock_text() == '{"bases": {}}\n'
    assert repo.snapshot("annotated").commit == first
    assert work.label == "working tree" and work.commit is None and work.ref is None


def test_snapshot_sees_each_version(git_repo):
    company(git_repo)
    git_repo.commit()
    git_repo.tag("v1")
    git_repo.write("python-bot/Modelfile", CHILD + "PARAMETER num_ctx 8192\n")
    git_repo.rm("personas/pirate-python.Modelfile")
    git_repo.write("new-bot/Modelfile", BASE)
    git_repo.commit()
    repo = Repo.find(git_repo.root)
    old, new = repo.snapshot("v1"), repo.snapshot("HEAD")
    assert list(old.models) == ["engine-bot", "pirate-python", "python-bot"]
    assert list(new.models) == ["engine-bot", "new-bot", "python-bot"]
    assert len(new.models["python-bot"].modelfile.of("PARAMETER")) == 1
    assert old.models["python-bot"].modelfile.of("PARAMETER") == ()


def test_renames(git_repo):
    company(git_repo)
    git_repo.commit()
    git_repo.tag("v1")
    git_repo.mv("python-bot/Modelfile", "coders/py-bot.Modelfile")
    git_repo.commit()
    repo = Repo.find(git_repo.root)
    assert repo.snapshot("v1").models["python-bot"].path == "python-bot/Modelfile"
    assert "python-bot" not in repo.snapshot("HEAD").models
    moved = repo.snapshot("HEAD").models["py-bot"]
    assert moved.modelfile.nodes == repo.snapshot("v1").models["python-bot"].modelfile.nodes


def test_prefix_is_handled_at_refs(git_repo):
    git_repo.write("README.md", "the tool")
    git_repo.write("Modelfile", "FROM not-part-of-the-example\n")
    git_repo.commit("before the example existed")
    git_repo.tag("v0")
    company(git_repo, "examples/")
    git_repo.commit("example")
    git_repo.tag("v1")
    repo = Repo.find(git_repo.root / "examples" / "python-bot")
    assert repo.prefix == "examples"
    snap = repo.snapshot("v1")
    same_models(repo.snapshot(), snap)
    assert snap.models["python-bot"].modelfile.path == "v1:python-bot/Modelfile"
    assert snap.read_text("BaseBot") == BASE
    assert snap.read_text("README.md") is None
    assert snap.resolve("python-bot", "../BaseBot").repo_path == "BaseBot"
    before = repo.snapshot("v0")
    assert before.models == {} and before.config.models == {}


def test_unknown_ref(git_repo):
    company(git_repo)
    git_repo.commit()
    repo = Repo.find(git_repo.root)
    for ref in ("nope", "v9.9.9", "HEAD~5", "deadbeef"):
        with pytest.raises(RefError) as err:
            repo.snapshot(ref)
        assert str(err.value) == f"unknown ref {ref!r}"


def test_refs_in_an_empty_repository(git_repo):
    repo = Repo.find(explicit=git_repo.root)
    assert repo.head_commit() is None
    with pytest.raises(RefError, match="unknown ref 'HEAD'"):
        repo.resolve_ref("HEAD")
    assert repo.version_tags() == []


def test_ref_outside_git(tmp_path):
    needs_no_enclosing_repo(tmp_path)
    with pytest.raises(RefError) as err:
        Repo.find(explicit=tmp_path).snapshot("v1")
    assert str(err.value) == f"unknown ref 'v1' ({tmp_path.resolve()} is not in a git repository)"


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("-h", "refs may not start with '-' (it would read as an option)"),
        ("--output=/tmp/x", "refs may not start with '-'"),
        ("HEAD..main", "ranges ('..') are not refs"),
        ("v1...v2", "ranges ('..') are not refs"),
        ("a b", "refs may not contain spaces"),
        ("main\n", "refs may not contain spaces"),
        ("ma\x01in", "control characters"),
        ("HEAD:mfops.yaml", "refs may not contain ':'"),
        ("v1*", "refs may not contain '*'"),
        ("v[1]", "refs may not contain '['"),
        ("a\\b", "refs may not contain '\\'"),
        ("HEAD@{1}", "reflog syntax"),
        ("@", "reflog syntax"),
        ("HEAD^{tree}", "'~' and '^' may only end a ref"),
        ("HEAD~1x", "'~' and '^' may only end a ref"),
        ("~1", "no name before"),
        ("", "empty"),
        ("refs/heads/.hidden", "may not start with '.'"),
        ("x.lock", "may not end with '.' or '.lock'"),
        ("a//b", "misplaced '/'"),
        ("/main", "misplaced '/'"),
    ],
)
def test_bad_refs_are_refused_before_git_runs(git_repo, monkeypatch, ref, reason):
    def no_git(*args, **kwargs):
        raise AssertionError("git must not run for an invalid ref")

    monkeypatch.setattr(GitStore, "_run", no_git)
    repo = Repo.find(explicit=git_repo.root)
    for call in (repo.resolve_ref, repo.snapshot, repo.short_sha):
        with pytest.raises(RefError) as err:
            call(ref)
        assert str(err.value).startswith(f"invalid ref {ref!r}: ")
        assert reason in str(err.value)


@pytest.mark.parametrize("ref", ["HEAD~1", "HEAD^", "HEAD^1", "HEAD~", "main~0^", "v1.0.0-rc.1"])
def test_ancestry_refs_are_fine(git_repo, ref):
    git_repo.write("a/Modelfile", BASE)
    first = git_repo.commit()
    git_repo.tag("v1.0.0-rc.1", first)
    git_repo.write("a/Modelfile", CHILD)
    git_repo.commit()
    assert Repo.find(git_repo.root).resolve_ref(ref) == first


def test_reading_refs_never_touches_the_work_tree_or_index(git_repo):
    company(git_repo)
    git_repo.write("w/model.gguf", b"GGUF" + bytes(range(256)) * 64)
    git_repo.commit()
    git_repo.tag("v1")
    git_repo.write("python-bot/Modelfile", CHILD + "# edited, not staged\n")
    git_repo.write("staged.Modelfile", BASE)
    git_repo.git("add", "staged.Modelfile")
    git_repo.write("untracked/Modelfile", BASE)
    index = (git_repo.root / ".git" / "index").read_bytes()
    status, head = git_repo.status(), git_repo.head()
    files = {
        p: p.read_bytes() for p in git_repo.root.rglob("*") if ".git" not in p.parts and p.is_file()
    }
    repo = Repo.find(git_repo.root)
    for ref in ("v1", "HEAD", "main~0"):
        snap = repo.snapshot(ref)
        assert list(snap.models) == ["engine-bot", "pirate-python", "python-bot"]
        snap.sha256(snap.resolve("", "w/model.gguf"))
        snap.sha256(snap.resolve("", "w"))
    repo.is_dirty()
    repo.version_tags()
    assert (git_repo.root / ".git" / "index").read_bytes() == index
    # mfops' own ignored state folder may gain a parse cache (store/cache.py); nothing else
    after = "".join(line for line in git_repo.status().splitlines(True) if " .mfops/" not in line)
    assert after == status
    assert git_repo.head() == head
    assert {p: p.read_bytes() for p in files} == files


# --------------------------------------------------------------------------- tags and state


def test_version_tags_newest_first(git_repo):
    git_repo.write("a/Modelfile", BASE)
    git_repo.commit()
    for tag in (
        "v1.0.0",
        "v1.10.0",
        "v1.2.0",
        "2.0.0-rc.1",
        "2.0.0-rc.10",
        "latest",
        "v1.0",
        "v01.0.0",
    ):
        git_repo.tag(tag)
    git_repo.branch("side", switch=True)
    git_repo.write("b/Modelfile", BASE)
    git_repo.commit()
    git_repo.tag("v3.0.0")
    git_repo.switch("main")
    git_repo.write("c/Modelfile", BASE)
    git_repo.commit()
    git_repo.tag("2.0.0", message="release")
    repo = Repo.find(git_repo.root)
    # `v1.0` is a release tag (`vX.Y`, as build/tags.py has it), read as 1.0.0
    expected = ["2.0.0", "2.0.0-rc.10", "2.0.0-rc.1", "v1.10.0", "v1.2.0", "v1.0.0", "v1.0"]
    assert repo.version_tags() == ["v3.0.0", *expected]
    assert repo.version_tags(reachable_from="HEAD") == expected
    assert repo.version_tags(reachable_from="main~1") == expected[1:]


def test_head_short_sha_and_dirty(git_repo):
    company(git_repo)
    sha = git_repo.commit()
    repo = Repo.find(git_repo.root)
    assert repo.head_commit() == sha
    assert repo.short_sha() == sha[:7]
    assert repo.short_sha("main") == sha[:7]
    assert repo.is_dirty() is False
    (git_repo.root / ".mfops").mkdir()
    (git_repo.root / ".mfops" / "state.json").write_text("{}")
    assert repo.is_dirty() is False
    git_repo.write("python-bot/Modelfile", CHILD + "# x\n")
    assert repo.is_dirty() is True


def test_dirty_only_looks_under_the_root(git_repo):
    company(git_repo, "examples/")
    git_repo.commit()
    repo = Repo.find(git_repo.root / "examples")
    git_repo.write("elsewhere.txt", "x")
    assert repo.is_dirty() is False
    git_repo.write("examples/new.Modelfile", BASE)
    assert repo.is_dirty() is True


def test_no_git_means_no_history(tmp_path):
    needs_no_enclosing_repo(tmp_path)
    repo = Repo.find(explicit=tmp_path)
    assert (repo.head_commit(), repo.is_dirty(), repo.version_tags()) == (None, False, [])


# --------------------------------------------------------------------------- path resolution


def _both(git_repo: GitRepo) -> tuple[Snapshot, Snapshot]:
    git_repo.commit()
    repo = Repo.find(git_repo.root)
    return repo.snapshot(), repo.snapshot("HEAD")


def test_resolve_files_dirs_and_names(git_repo):
    git_repo.write("bots/a/Modelfile", "FROM ./weights/model.gguf\n")
    git_repo.write("bots/a/weights/model.gguf", "GGUF data")
    git_repo.write("bots/a/st/config.json", "{}")
    for snap in _both(git_repo):
        got = snap.resolve("bots/a", "./weights/model.gguf")
        assert (got.repo_path, got.abs_path, got.kind, got.escapes) == (
            "bots/a/weights/model.gguf",
            None,
            "file",
            False,
        )
        assert snap.resolve("bots/a", "st").kind == "dir"
        assert snap.resolve("bots/a", "weights/../st/").repo_path == "bots/a/st"
        name = snap.resolve("bots/a", "llama3.2:3b")
        assert (name.kind, name.repo_path, name.escapes) == ("missing", "bots/a/llama3.2:3b", False)
        assert snap.resolve("bots/a", "weights/model.gguf/x").kind == "missing"
        assert snap.resolve("", ".").kind == "dir"
        assert snap.sha256(got) == "sha256:" + hashlib.sha256(b"GGUF data").hexdigest()
        assert snap.size(got) == 9


def test_resolve_escaping_paths(git_repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.gguf").write_bytes(b"outside weights")
    home = Path(os.environ["HOME"])
    (home / "models").mkdir()
    (home / "models" / "h.gguf").write_bytes(b"home weights")
    git_repo.write("bots/a/Modelfile", BASE)
    git_repo.symlink("bots/a/link", str(outside))
    git_repo.symlink("bots/a/rel-link", "../../../outside")
    for snap in _both(git_repo):
        up = snap.resolve("bots/a", "../../../outside/x.gguf")
        assert (up.repo_path, up.abs_path, up.kind, up.escapes, up.allowed) == (
            None,
            str(outside / "x.gguf"),
            "file",
            True,
            False,
        )
        absolute = snap.resolve("bots/a", str(outside / "x.gguf"))
        assert (absolute.abs_path, absolute.escapes) == (str(outside / "x.gguf"), True)
        tilde = snap.resolve("bots/a", "~/models/h.gguf")
        assert (tilde.abs_path, tilde.kind, tilde.escapes) == (
            str(home / "models/h.gguf"),
            "file",
            True,
        )
        for arg in ("link/x.gguf", "rel-link/x.gguf"):
            linked = snap.resolve("bots/a", arg)
            assert (linked.abs_path, linked.kind, linked.escapes, linked.allowed) == (
                str(outside / "x.gguf"),
                "file",
                True,
                False,
            )
        with pytest.raises(RepoError, match=r"refusing to read .* outside the repository"):
            snap.sha256(up)
        unknown_user = snap.resolve("bots/a", "~no-such-user-xyz/m.gguf")
        assert (unknown_user.kind, unknown_user.escapes) == ("missing", True)
        gone = snap.resolve("", "../missing.gguf")
        assert (gone.kind, gone.escapes) == ("missing", True)


def test_absolute_path_into_the_repo_is_inside(git_repo):
    git_repo.write("w/m.gguf", "weights")
    for snap in _both(git_repo):
        got = snap.resolve("bots", str(git_repo.root.resolve() / "w" / "m.gguf"))
        assert (got.repo_path, got.escapes, got.kind) == ("w/m.gguf", False, "file")


def test_allow_paths(git_repo, tmp_path):
    shared = tmp_path / "shared"
    (shared / "st").mkdir(parents=True)
    (shared / "x.gguf").write_bytes(b"shared weights")
    (shared / "st" / "model.safetensors").write_bytes(b"tensors")
    (tmp_path / "other.gguf").write_bytes(b"not allowed")
    git_repo.write(CONFIG_FILE, "allow_paths:\n  - ../shared\n")
    git_repo.write("a/Modelfile", BASE)
    expected = "sha256:" + hashlib.sha256(b"shared weights").hexdigest()
    for snap in _both(git_repo):
        got = snap.resolve("a", "../../shared/x.gguf")
        assert (got.abs_path, got.escapes, got.allowed, got.kind) == (
            str(shared / "x.gguf"),
            True,
            True,
            "file",
        )
        assert snap.sha256(got) == expected
        assert snap.size(got) == len(b"shared weights")
        assert snap.sha256(snap.resolve("a", str(shared / "st"))).startswith("sha256:")
        other = snap.resolve("a", "../../other.gguf")
        assert (other.escapes, other.allowed) == (True, False)
        sibling = snap.resolve("a", "../../shared-not/x.gguf")  # a prefix of the name is not enough
        assert sibling.allowed is False


def test_absolute_and_home_allow_paths(git_repo, tmp_path):
    home = Path(os.environ["HOME"])
    (home / "w.gguf").write_bytes(b"w")
    (tmp_path / "abs").mkdir()
    git_repo.write(CONFIG_FILE, f"allow_paths: ['~', '{tmp_path / 'abs'}']\n")
    snap = Repo.find(git_repo.root).snapshot()
    assert snap.resolve("", "~/w.gguf").allowed is True
    assert snap.resolve("", str(tmp_path / "abs" / "m.gguf")).allowed is True
    assert snap.resolve("", str(tmp_path / "elsewhere.gguf")).allowed is False


def test_symlinks_inside_the_repo_are_followed(git_repo):
    git_repo.write("real/model.gguf", "real weights")
    git_repo.write("bots/a/Modelfile", BASE)
    git_repo.symlink("bots/a/model.gguf", "../../real/model.gguf")
    git_repo.symlink("bots/a/w", "../../real")
    git_repo.symlink("bots/a/loop", "loop")
    git_repo.symlink("bots/a/dangling", "nowhere.gguf")
    for snap in _both(git_repo):
        for arg in ("model.gguf", "w/model.gguf", "./w/../w/model.gguf"):
            got = snap.resolve("bots/a", arg)
            assert (got.repo_path, got.kind, got.escapes) == ("real/model.gguf", "file", False)
        assert snap.resolve("bots/a", "w").kind == "dir"
        assert snap.resolve("bots/a", "loop").kind == "missing"
        assert snap.resolve("bots/a", "dangling").kind == "missing"


def test_symlinked_modelfiles(git_repo):
    git_repo.write("shared/base.txt", BASE)
    git_repo.symlink("bot/Modelfile", "../shared/base.txt")
    git_repo.write(CONFIG_FILE, "models:\n  core:\n    modelfile: core-link\n")
    git_repo.symlink("core-link", "shared/base.txt")
    work, head = _both(git_repo)
    same_models(work, head)
    assert work.models["bot"].path == "bot/Modelfile"
    assert work.models["core"].modelfile.nodes == work.models["bot"].modelfile.nodes


def test_lfs_pointer(git_repo):
    content = b"pretend these are gigabytes of weights"
    oid = hashlib.sha256(content).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    git_repo.write("w/model.gguf", pointer)
    git_repo.write("w/real.gguf", content)
    git_repo.write("w/fake.gguf", "version https://git-lfs.github.com/spec/v1\nno oid here\n")
    for snap in _both(git_repo):
        got = snap.resolve("", "w/model.gguf")
        assert (got.kind, got.lfs_pointer) == ("file", True)
        # The pointer records the real content's sha256: digests agree with a real checkout.
        assert snap.sha256(got) == snap.sha256(snap.resolve("", "w/real.gguf"))
        assert snap.size(got) == len(content)
        assert snap.resolve("", "w/real.gguf").lfs_pointer is False
        assert snap.resolve("", "w/fake.gguf").lfs_pointer is False


def test_directory_digest(git_repo):
    git_repo.write("st/config.json", "{}")
    git_repo.write("st/2_Dense/model.safetensors", "dense")
    git_repo.write("st/model.safetensors", "main")
    git_repo.write("st/.cache/huggingface/x.lock", "ignored")
    git_repo.write("st/.DS_Store", "ignored")

    def h(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    listing = (
        f"{h(b'dense')}  2_Dense/model.safetensors\n{h(b'{}')}  config.json\n"
        f"{h(b'main')}  model.safetensors\n"
    )
    expected = "sha256:" + h(listing.encode())
    for snap in _both(git_repo):
        got = snap.resolve("", "st")
        assert snap.sha256(got) == expected
        assert snap.size(got) == len(b"dense{}main")


def test_large_files_are_streamed(git_repo):
    data = os.urandom(3 * 1024 * 1024 + 17)
    git_repo.write("big.gguf", data)
    for snap in _both(git_repo):
        assert (
            snap.sha256(snap.resolve("", "big.gguf"))
            == "sha256:" + hashlib.sha256(data).hexdigest()
        )
        assert snap.size(snap.resolve("", "big.gguf")) == len(data)


def test_special_files(git_repo):
    git_repo.write("a/Modelfile", BASE)
    os.mkfifo(git_repo.root / "a" / "pipe.gguf")
    snap = Repo.find(git_repo.root).snapshot()
    got = snap.resolve("a", "pipe.gguf")
    assert got.kind == "special"
    with pytest.raises(RepoError, match="special"):
        snap.sha256(got)


def test_fifo_named_like_a_modelfile_is_not_read(git_repo):
    os.mkfifo(git_repo.root / "x.Modelfile")
    with pytest.raises(ModelfileError) as err:
        _ = Repo.find(git_repo.root).snapshot().models
    assert str(err.value) == "x.Modelfile: cannot read Modelfile: it is not a regular file"


def test_read_text(git_repo):
    git_repo.write("suites/a.yaml", "cases: []\n")
    git_repo.write("bin.dat", b"\xff\xfe\x00bad")
    for snap in _both(git_repo):
        assert snap.read_text("suites/a.yaml") == "cases: []\n"
        assert snap.read_text("suites/missing.yaml") is None
        assert snap.read_text("suites") is None
        assert snap.lock_text() is None
        with pytest.raises(ConfigError, match=r"bin\.dat: not UTF-8 text"):
            snap.read_text("bin.dat")


def test_close_ends_the_git_processes_and_the_repo_still_works(git_repo):
    company(git_repo)
    git_repo.commit()
    with Repo.find(git_repo.root) as repo:
        snap = repo.snapshot("HEAD")
        assert snap.read_text("BaseBot") == BASE
    assert repo.snapshot("HEAD").read_text("BaseBot") == BASE  # reopened on demand
    repo.close()
