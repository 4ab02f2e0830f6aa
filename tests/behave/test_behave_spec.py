"""Suite loading and validation (mfops/behave/spec.py, assertions parsing, selection):
real git repos, no server. Every bad suite is a ConfigError at `file:line`."""

from __future__ import annotations

import pytest

from mfops.behave import load_suites, plan_cases
from mfops.behave.spec import DEFAULT_OPTIONS, slugify
from mfops.errors import ConfigError, UnknownModelError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo
from tests.behavekit import SEED_FILES

MODELS = {
    "base/Modelfile": "FROM llama3.2:3b\nSYSTEM Base.\n",
    "mid/Modelfile": "FROM base\nSYSTEM Mid.\n",
    "leaf/Modelfile": "FROM mid\nSYSTEM Leaf.\n",
    "other/Modelfile": "FROM llama3.2:3b\n",
}


def load(git_repo, files: dict[str, str], *, ref: str | None = None):
    for path, text in {**MODELS, **files}.items():
        git_repo.write(path, text)
    git_repo.commit("suites")
    rev = Revision(Repo(git_repo.root, git_repo.root), ref)
    return load_suites(rev.snapshot, rev.graph), rev


def suite(cases: str, head: str = "model: base\n") -> str:
    return head + "cases:\n" + cases


ONE = "  - name: greets\n    prompt: hello\n    assert:\n      - {type: contains, value: hi}\n"


def error(git_repo, text: str, path: str = "t.test.yaml", files: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(git_repo, {path: text, **(files or {})})
    return str(info.value)


# --------------------------------------------------------------------------- valid suites


def test_seed_suites_load_with_defaults_lines_and_digests(git_repo):
    suites, _ = load(git_repo, dict(SEED_FILES))
    by_path = {s.path: s for s in suites}
    assert sorted(by_path) == ["expert/expert.test.yaml", "tests/company.test.yaml"]
    company = by_path["tests/company.test.yaml"]
    assert company.model == "base" and company.inherit and company.name == "company"
    case = company.cases[0]
    assert case.messages == (("user", "What is your pricing for enterprise customers?"),)
    assert case.options == DEFAULT_OPTIONS == {"temperature": 0, "seed": 42}
    assert case.samples == 1 and case.pass_rate == 1.0 and case.required == 1
    assert case.line == 4 and case.assertions[0].line == 7
    assert case.digest.startswith("sha256:") and len(case.digest) == 71
    expert = by_path["expert/expert.test.yaml"]
    assert [c.slug for c in expert.cases] == ["refuses-javascript", "answers-python"]


def test_options_merge_defaults_suite_and_case(git_repo):
    text = (
        "model: base\noptions: {temperature: 0.7, stop: END}\ncases:\n"
        "  - name: a\n    prompt: x\n    options: {seed: 7, num_predict: 20}\n"
        "    samples: 5\n    pass_rate: 0.5\n"
        "    assert: [{type: is-json}]\n"
    )
    (s,), _ = load(git_repo, {"t.test.yaml": text})
    assert s.cases[0].options == {"temperature": 0.7, "seed": 7, "stop": ["END"], "num_predict": 20}
    assert s.cases[0].required == 3  # ceil(0.5 x 5)


def test_messages_and_format(git_repo):
    text = suite(
        "  - name: convo\n    format: json\n    messages:\n"
        "      - {role: system, content: Be brief.}\n"
        "      - {role: User, content: hi}\n"
        "    assert: [{type: is-json}]\n"
    )
    (s,), _ = load(git_repo, {"t.test.yaml": text})
    assert s.cases[0].messages == (("system", "Be brief."), ("user", "hi"))
    assert s.cases[0].format == "json" and s.cases[0].prompt is None


def test_case_digest_ignores_the_name_but_not_the_content(git_repo):
    (a,), _ = load(git_repo, {"t.test.yaml": suite(ONE)})
    (b,), _ = load(git_repo, {"t.test.yaml": suite(ONE.replace("greets", "says hello"))})
    (c,), _ = load(git_repo, {"t.test.yaml": suite(ONE.replace("value: hi", "value: ho"))})
    (d,), _ = load(git_repo, {"t.test.yaml": suite(ONE + "    samples: 2\n")})
    assert a.cases[0].digest == b.cases[0].digest
    assert len({a.cases[0].digest, c.cases[0].digest, d.cases[0].digest}) == 3


def test_suites_are_found_anywhere_but_in_dot_directories(git_repo):
    suites, _ = load(
        git_repo,
        {
            "deep/er/x.test.yaml": suite(ONE),
            "y.test.yml": suite(ONE),
            ".hidden/z.test.yaml": "not: [valid",
            "notes.yaml": "model: nope\n",
        },
    )
    assert [s.path for s in suites] == ["deep/er/x.test.yaml", "y.test.yml"]


def test_suites_listed_in_mfops_yaml(git_repo):
    files = {
        "mfops.yaml": (
            "models:\n  base:\n    modelfile: base/Modelfile\n    tests: [checks/base-rules.yaml]\n"
        ),
        "checks/base-rules.yaml": "cases:\n" + ONE,  # no model: the listing says which
    }
    (s,), _ = load(git_repo, files)
    assert (s.path, s.model, s.name) == ("checks/base-rules.yaml", "base", "base-rules")


def test_suites_load_from_a_git_ref(git_repo):
    load(git_repo, {"t.test.yaml": suite(ONE)})
    git_repo.tag("v1")
    git_repo.write("t.test.yaml", "broken: [")
    git_repo.commit("break it")
    rev = Revision(Repo(git_repo.root, git_repo.root), "v1")
    (s,) = load_suites(rev.snapshot, rev.graph)
    assert s.display == "v1:t.test.yaml"


def test_slugs():
    assert slugify("Refuses JavaScript (closures)!") == "refuses-javascript-closures"
    assert slugify("???") == "case"


# --------------------------------------------------------------------------- selection


def test_inherited_suites_reach_every_descendant_and_say_so(git_repo):
    inherited = "model: base\ninherit: true\ncases:\n" + ONE
    own = "model: leaf\ncases:\n" + ONE.replace("greets", "leafy")
    suites, rev = load(git_repo, {"rules.test.yaml": inherited, "leaf.test.yaml": own})
    runs = plan_cases(suites, rev.graph)
    assert [(r.model, r.case.name, r.inherited_from) for r in runs] == [
        ("base", "greets", None),
        ("mid", "greets", "base"),
        ("leaf", "leafy", None),
        ("leaf", "greets", "base"),
    ]
    assert runs[1].origin == "rules.test.yaml:4 (inherited from base)"
    assert [r.model for r in plan_cases(suites, rev.graph, ["leaf"])] == ["leaf", "leaf"]
    assert plan_cases(suites, rev.graph, ["other"]) == []
    with pytest.raises(UnknownModelError, match="did you mean leaf"):
        plan_cases(suites, rev.graph, ["leaff"])


def test_without_inherit_a_suite_stays_on_its_model(git_repo):
    suites, rev = load(git_repo, {"rules.test.yaml": "model: base\ncases:\n" + ONE})
    assert [r.model for r in plan_cases(suites, rev.graph)] == ["base"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            suite(ONE.replace("contains", "contians")),
            "t.test.yaml:6: cases[0].assert[0].type: unknown assertion 'contians'",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: regex, value: '(['}")),
            "t.test.yaml:6: cases[0].assert[0].value: invalid regular expression '(['",
        ),
        (
            suite(
                ONE.replace(
                    "{type: contains, value: hi}", "{type: json-schema, value: {type: objekt}}"
                )
            ),
            "t.test.yaml:6: cases[0].assert[0].value: invalid JSON schema at type:",
        ),
        (
            suite(ONE, head="model: bsae\n"),
            "t.test.yaml:1: model: unknown model 'bsae': no such model in the repo (did you mean base?)",
        ),
        (
            suite(ONE.replace("    prompt: hello\n", "")),
            "t.test.yaml:3: cases[0]: a case needs either `prompt:` or `messages:` (exactly one)",
        ),
        (
            suite(ONE.replace("    prompt: hello\n", "    prompt: hello\n    messages: []\n")),
            "t.test.yaml:3: cases[0]: a case needs either `prompt:` or `messages:` (exactly one)",
        ),
        (suite(ONE.replace("prompt:", "promt:")), "t.test.yaml:4: cases[0].promt: unknown key"),
        (
            suite(ONE + "    options: {temprature: 0.1}\n"),
            "t.test.yaml:7: cases[0].options.temprature: unknown Ollama option (did you mean "
            "'temperature'?)",
        ),
        (
            suite(ONE + "    options: {seed: 1.5}\n"),
            "t.test.yaml:7: cases[0].options.seed: expected an integer, got a number",
        ),
        (
            suite(ONE + ONE.replace("greets", "Greets!")),
            "t.test.yaml:7: cases[1].name: case name 'Greets!' repeats the case at line 3",
        ),
        (
            suite(ONE + "    samples: 0\n"),
            "t.test.yaml:7: cases[0].samples: expected an integer >= 1",
        ),
        (
            suite(ONE + "    pass_rate: 1.5\n"),
            "t.test.yaml:7: cases[0].pass_rate: expected a number > 0 and <= 1, got 1.5",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: similar, value: hi}")),
            "t.test.yaml:6: cases[0].assert[0]: similar needs an embedding model (give `model:` here "
            "or set defaults.embedding_model in mfops.yaml)",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: llm-judge, value: polite}")),
            "t.test.yaml:6: cases[0].assert[0]: llm-judge needs a judge model",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: contains}")),
            "t.test.yaml:6: cases[0].assert[0]: contains needs a `value`",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: is-json, value: 1}")),
            "t.test.yaml:6: cases[0].assert[0].value: unknown key",
        ),
        (
            suite(ONE.replace("{type: contains, value: hi}", "{type: max-length, value: -1}")),
            "t.test.yaml:6: cases[0].assert[0].value: expected an integer >= 0, got -1",
        ),
        (
            suite(
                ONE.replace(
                    "{type: contains, value: hi}", "{type: similar, value: x, model: 'a b'}"
                )
            ),
            "t.test.yaml:6: cases[0].assert[0].model: invalid model name 'a b'",
        ),
        (
            suite("  - name: a\n    prompt: x\n    assert: []\n"),
            "t.test.yaml:5: cases[0].assert: expected a non-empty list of assertions, got a list",
        ),
        ("model: base\n", "t.test.yaml:1: cases: expected a non-empty list of cases, got nothing"),
        ("cases: []\n", "t.test.yaml:1: missing `model:`"),
        ("", "t.test.yaml:1: empty suite"),
        ("model: base\ncases: [\n", "t.test.yaml:3: invalid YAML"),
    ],
)
def test_bad_suites_are_refused_with_file_and_line(git_repo, text, expected):
    assert error(git_repo, text).startswith(expected)


def test_models_for_similar_and_judge_come_from_mfops_yaml(git_repo):
    files = {
        "mfops.yaml": "defaults:\n  embedding_model: nomic-embed-text\n  judge_model: llama3.2:3b\n"
    }
    text = suite(
        ONE.replace(
            "{type: contains, value: hi}",
            "{type: similar, value: hi}\n      - {type: llm-judge, value: ok}\n"
            "      - {type: baseline, threshold: 0.9, model: other-embed}",
        )
    )
    (s,), _ = load(git_repo, {"t.test.yaml": text, **files})
    models = [(c.type, c.model, c.threshold) for c in s.cases[0].assertions]
    assert models == [
        ("similar", "nomic-embed-text", 0.8),
        ("llm-judge", "llama3.2:3b", None),
        ("baseline", "other-embed", 0.9),
    ]


def test_listed_suite_errors_point_at_mfops_yaml(git_repo):
    listing = (
        "models:\n  base:\n    modelfile: base/Modelfile\n    tests:\n      - checks/missing.yaml\n"
    )
    with pytest.raises(ConfigError) as info:
        load(git_repo, {"mfops.yaml": listing})
    assert str(info.value) == (
        "mfops.yaml:5: models.base.tests: 'checks/missing.yaml' does not exist"
    )
    wrong = {
        "mfops.yaml": listing.replace("missing", "r"),
        "checks/r.yaml": suite(ONE, "model: mid\n"),
    }
    with pytest.raises(
        ConfigError,
        match=r"checks/r.yaml:1: model: this suite tests 'mid' but "
        r"mfops.yaml lists it under models.base.tests",
    ):
        load(git_repo, wrong)


# --------------------------------------------------------------------------- sampling (issue 15)


def test_suite_level_samples_and_pass_rate_are_case_defaults(git_repo):
    from mfops.behave.selection import override_samples

    two = ONE + ONE.replace("greets", "waves") + "    samples: 4\n"
    suites, rev = load(
        git_repo, {"t.test.yaml": suite(two, "model: base\nsamples: 10\npass_rate: 0.7\n")}
    )
    greets, waves = suites[0].cases
    assert (greets.samples, greets.pass_rate, greets.required) == (10, 0.7, 7)
    assert (waves.samples, waves.pass_rate) == (4, 0.7)
    runs = override_samples(plan_cases(suites, rev.graph), 3)
    assert [r.case.samples for r in runs] == [3, 3]
    assert runs[0].case.digest != greets.digest  # results of other counts are not reused
    assert override_samples(runs, None) == runs


def test_suite_level_samples_are_validated_at_their_line(git_repo):
    text = suite(ONE, "model: base\nsamples: 0\n")
    assert error(git_repo, text).startswith("t.test.yaml:2: samples:")
    text = suite(ONE, "model: base\npass_rate: 1.5\n")
    assert error(git_repo, text).startswith("t.test.yaml:2: pass_rate:")
