"""Messages for hostile or odd input say what is wrong, in mfops' own words (issue 18,
item 11): a tag like `../x`, a git tag of a tree or a blob, a malformed `/api/tags` during a
rollback, a suite symlinked out of the repository."""

from __future__ import annotations

from pathlib import Path

from tests.promotekit import (  # noqa: F401  (fixtures)
    Release,
    release_fixture,
    seeded_fixture,
)


def test_a_path_like_release_tag_is_named_without_internal_placeholders(rel: Release):
    code, _, err = rel.mfops("promote", "--all", "--from", rel.tag(), "--to", "../x")
    assert code == 2
    assert err == "mfops: invalid tag '../x': may only contain letters, digits, '_', '-' and '.'\n"
    code, _, err = rel.mfops("rollback", "expert", "--to", "../x")
    assert code == 2 and "m:" not in err and "invalid tag '../x'" in err
    code, _, err = rel.mfops("build", "--all", "--tag", "a/b")
    assert code == 2 and "m:" not in err and "invalid tag 'a/b'" in err


def test_a_git_tag_of_a_tree_or_a_blob_is_named_for_what_it_is(rel: Release):
    rel.repo.git("tag", "tree-tag", "HEAD^{tree}")
    blob = rel.repo.git("rev-parse", "HEAD:base/Modelfile").strip()
    rel.repo.git("tag", "blob-tag", blob)
    code, _, err = rel.mfops("diff", "tree-tag")
    assert code == 2
    assert err.startswith("mfops: ref 'tree-tag' names a tree, not a commit")
    code, _, err = rel.mfops("diff", "blob-tag")
    assert code == 2 and err.startswith("mfops: ref 'blob-tag' names a blob, not a commit")
    code, _, err = rel.mfops("diff", "no-such-tag")
    assert code == 2 and "unknown ref 'no-such-tag'" in err


def test_a_malformed_listing_makes_rollback_exit_2_not_refused(rel: Release):
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    rel.double.calls.reset()
    rel.double.faults.fail_next("/api/tags", status=200, body='{"models": 5}')
    code, out, err = rel.mfops("rollback", "expert", "--to", "v1")
    assert code == 2, out + err
    assert "refused" not in out + err
    assert err.startswith("mfops: ") and len(err.splitlines()) == 1
    assert rel.double.calls.count("/api/copy") == 0


def test_a_suite_symlinked_out_of_the_repository_is_named(rel: Release, tmp_path: Path):
    outside = tmp_path / "outside.test.yaml"
    outside.write_text(rel.repo.read("expert/expert.test.yaml"))
    rel.repo.symlink("expert/evil.test.yaml", str(outside))
    rel.repo.commit("a suite that points out")
    code, _, err = rel.mfops("test", "expert")
    assert code == 2
    assert err == "expert/evil.test.yaml: cannot read suite: it points outside the repository\n"
    rel.repo.write(
        "mfops.yaml",
        "models:\n  expert:\n    modelfile: expert/Modelfile\n    tests: [expert/evil.test.yaml]\n",
    )
    code, _, err = rel.mfops("test", "expert")
    assert code == 2 and "None" not in err
    assert "models.expert.tests: 'expert/evil.test.yaml' points outside the repository" in err
