"""Several refs resolved by one git process (`Repo.resolve_refs`, `diff A B`): the same SHAs
and the same errors as one `resolve_ref` each."""

from __future__ import annotations

import pytest

from mfops.errors import RefError
from mfops.repo.repository import Repo


@pytest.fixture
def repo(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\n")
    git_repo.commit("one")
    git_repo.tag("v1", message="annotated")
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\nSYSTEM two\n")
    git_repo.commit("two")
    git_repo.tag("v2")
    tree = git_repo.git("rev-parse", "HEAD^{tree}").strip()
    git_repo.tag("a-tree", tree)
    return git_repo, Repo.find(explicit=git_repo.path)


def test_each_ref_resolves_as_alone_in_order(repo):
    git_repo, found = repo
    refs = ["v2", "v1", "HEAD~1", "main", git_repo.head()[:10]]
    assert found.resolve_refs(refs) == [found.resolve_ref(r) for r in refs]
    assert found.resolve_refs(refs)[1] == git_repo.rev("v1")  # the annotated tag, peeled


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (["v1", "nope"], "unknown ref 'nope'"),
        (["nope", "v1"], "unknown ref 'nope'"),
        (["v1", "a-tree"], "ref 'a-tree' names a tree, not a commit"),
        (["v1", "v1..v2"], "invalid ref 'v1..v2'"),
    ],
)
def test_a_bad_ref_gets_the_error_it_gets_alone(repo, refs, message):
    _, found = repo
    with pytest.raises(RefError) as err:
        found.resolve_refs(refs)
    assert str(err.value).startswith(message)
