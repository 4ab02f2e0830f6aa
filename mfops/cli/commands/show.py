"""`mfops show NAME [--ref REF] [--effective] [--format modelfile|json]`."""

from __future__ import annotations

import click

from mfops.cli.render import to_json
from mfops.graph.effective import declared, to_modelfile
from mfops.graph.revision import Revision


def _effective_json(eff) -> dict[str, object]:
    def src(item):
        return {"value": item.value, "from": item.origin, "line": item.line}

    return {
        "name": eff.name,
        "chain": list(eff.chain),
        "base": {"kind": eff.base.kind, "target": eff.base.target},
        **{k: src(v) for k, v in eff.texts.items()},
        "parameters": {k: src(v) for k, v in sorted(eff.parameters.items())},
        "messages": (
            {
                "value": [{"role": m.role, "content": m.content} for m in eff.messages.value],
                "from": eff.messages.origin,
                "line": eff.messages.line,
            }
            if eff.messages
            else None
        ),
        "licenses": [src(x) for x in eff.licenses],
        "adapters": [
            {"path": a.value.repo_path or a.value.abs_path, "from": a.origin, "line": a.line}
            for a in eff.adapters
        ],
    }


@click.command("show")
@click.argument("name")
@click.option("--ref", help="A git ref (tag, branch, SHA); default: the working tree.")
@click.option("--effective", is_flag=True, help="Fold the inheritance chain (what Ollama holds).")
@click.option("--format", "fmt", type=click.Choice(["modelfile", "json"]), default="modelfile")
@click.pass_obj
def command(opts, name: str, ref: str | None, effective: bool, fmt: str) -> int:
    """Show a model's Modelfile as declared, or its effective config through inheritance.

    The effective form is a valid Modelfile FROM the root's base that would create the same
    model, with comments saying which ancestor set each value.
    """
    rev = Revision.open(repo=opts.repo, ref=ref)
    node = rev.graph[name]
    if effective:
        eff = rev.effective[node.name]
        if fmt == "json":
            click.echo(to_json(_effective_json(eff)))
        else:
            click.echo(to_modelfile(eff, model_dir=node.model.dir, label=rev.label), nl=False)
        return 0
    if fmt == "json":
        own = declared(node)
        mf = node.model.modelfile
        click.echo(
            to_json(
                {
                    "name": node.name,
                    "file": node.model.path,
                    "from": {
                        "kind": node.base.kind,
                        "target": node.base.target,
                        "arg": node.base.arg,
                    },
                    "commands": [{"name": c.name, "args": c.args} for c in mf.commands],
                    "parameters": {k: v.value for k, v in own.parameters.items()},
                }
            )
        )
        return 0
    text = rev.snapshot.read_text(node.model.path)
    click.echo(text if text is not None else "", nl=False)
    return 0
