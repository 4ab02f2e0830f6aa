"""Generate a large, realistic Modelfile repository for the benchmarks.

10,000 models (by default) in a forest of inheritance chains up to depth 8, under a few
external bases, with a realistic mix of parameters, short SYSTEM prompts and a few long ones
(a few hundred KB of SYSTEM text in total), committed and tagged `v1`; then `changed` models
are edited and the result committed and tagged `v2`. Deterministic for a given seed.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

BASES = ["llama3.2:3b", "qwen2.5:7b", "mistral:7b", "gemma3:4b", "phi4:14b"]
TEAMS = ["platform", "support", "sales", "legal", "data", "search", "infra", "mobile"]
WORDS = (
    "answer",
    "questions",
    "about",
    "engines",
    "politely",
    "and",
    "concisely",
    "cite",
    "sources",
    "never",
    "share",
    "customer",
    "data",
    "escalate",
    "to",
    "a",
    "human",
    "when",
    "unsure",
    "keep",
    "replies",
    "short",
    "use",
    "metric",
    "units",
)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def _system(rng: random.Random, long: bool) -> str:
    n = rng.randint(120, 200) if long else rng.randint(4, 9)
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def modelfile(rng: random.Random, name: str, parent: str, revision: int = 0) -> str:
    lines = [f"# {name}: generated benchmark model (rev {revision})", "", f"FROM {parent}", ""]
    lines.append(f"PARAMETER temperature {rng.choice(['0.1', '0.2', '0.5', '0.7'])}")
    if rng.random() < 0.3:
        lines.append(f"PARAMETER num_ctx {rng.choice([2048, 4096, 8192])}")
    if rng.random() < 0.2:
        lines.append("PARAMETER stop <|eot_id|>")
    if rng.random() < 0.6:
        text = _system(rng, long=rng.random() < 0.01)
        lines += ["", 'SYSTEM """', text + (f" Revision {revision}." if revision else ""), '"""']
    if rng.random() < 0.1:
        lines += ["", "MESSAGE user Hello", "MESSAGE assistant Hi! How can I help?"]
    return "\n".join(lines) + "\n"


def generate(root: Path, *, models: int = 10_000, changed: int = 100, seed: int = 7) -> list[str]:
    """Write, commit and tag the repo; return the names of the models changed in v2."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "mfops.yaml").write_text("models: {}\n")
    names: list[str] = []
    depth: dict[str, int] = {}
    parents: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for i in range(models):
        name = f"m{i:05d}"
        candidates = [n for n in names[-400:] if depth[n] < 8]
        if i < 40 or not candidates or rng.random() < 0.02:
            parent, d = rng.choice(BASES), 0
        else:
            parent = rng.choice(candidates)
            d = depth[parent] + 1
        names.append(name)
        depth[name], parents[name] = d, parent
        team = TEAMS[i % len(TEAMS)]
        # Directory models and `<name>.Modelfile` files live in different folders: a FROM
        # naming a sibling model whose directory sits next to the Modelfile would be a
        # directory import for Ollama (the filesystem decides), not an edge.
        if rng.random() < 0.5:
            path = root / "models" / team / "dirs" / name / "Modelfile"
        else:
            path = root / "models" / team / f"{name}.Modelfile"
        paths[name] = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(modelfile(rng, name, parent))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "v1")
    _git(root, "tag", "v1")
    edited = sorted(rng.sample(names, changed))
    for name in edited:
        paths[name].write_text(modelfile(rng, name, parents[name], revision=1))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "v2")
    _git(root, "tag", "v2")
    return edited


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="directory to create the repository in")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=100, help="models edited in v2")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    edited = generate(args.target, models=args.models, changed=args.changed, seed=args.seed)
    print(len(edited), "models changed between v1 and v2 in", args.target)
