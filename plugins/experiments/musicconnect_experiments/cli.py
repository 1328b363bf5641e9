"""``musicconnect experiments list|create|start|stop|results``: A/B experiments from the shell."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _guard(fn):
    import functools

    from sqlalchemy.exc import SQLAlchemyError

    from musicconnect import Problem

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except Problem as exc:
            _fail(exc.detail or exc.title)
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0]
            if "no such table" in first or "does not exist" in first:
                _fail("the experiments tables do not exist yet: run `musicconnect db upgrade` first")
            _fail(f"the database failed: {first}")
    return wrapper


def _fmt(x, pct=False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f}%" if pct else f"{x:.4g}"


def print_results(doc: dict) -> None:
    srm = doc["srm"]
    typer.echo(f"{doc['experiment']} (flag {doc['flag_key']}, {doc['status']}), control {doc['control']}")
    typer.echo("  users: " + ", ".join(f"{v['variant']} {v['users']}" for v in doc["variants"])
               + f"   SRM p={_fmt(srm['p_value'])}" + ("  SAMPLE RATIO MISMATCH" if srm["mismatch"] else ""))
    for m in doc["metrics"]:
        status = f"  [guardrail: {m['status']}]" if m["guardrail"] else ""
        typer.echo(f"  {m['name']} ({m['kind']} of {m['event']}){status}")
        for r in m["variants"]:
            ci = f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]" if r.get("ci") else "-"
            line = f"    {r['variant']:<12} n={r['users']:<7} mean={_fmt(r['mean'])} {ci}"
            if r["variant"] != doc["control"]:
                lo_hi = r.get("lift_ci")
                line += f"  lift {_fmt(r.get('lift'), True)}"
                if lo_hi:
                    line += f" [{_fmt(lo_hi[0], True)}, {_fmt(lo_hi[1], True)}]"
                line += f" p={_fmt(r.get('p_value'))}" + (" *" if r.get("significant") else "")
                if "guardrail" in r:
                    line += f" guardrail {r['guardrail']}"
            typer.echo(line)
    typer.echo(f"  guardrails: {doc['guardrails']}")


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="A/B experiments on feature-flag variants: list, create, start, stop, results.",
                      no_args_is_help=True)

    @app.command("list")
    @_guard
    def list_cmd(as_json: bool = typer.Option(False, "--json", help="one JSON object per line")):
        """Every experiment."""
        from sqlalchemy import select

        from .experiments import Experiment, serialize

        with platform.read() as s:
            rows = [serialize(e) for e in s.scalars(select(Experiment).order_by(Experiment.created_at))]
        for row in rows:
            typer.echo(json.dumps(row) if as_json else
                       f"{row['key']:<32} {row['status']:<8} flag {row['flag_key']}  weights {json.dumps(row['weights'])}")
        if not rows and not as_json:
            typer.echo("no experiments")

    @app.command("create")
    @_guard
    def create_cmd(spec: str = typer.Argument(..., help="the experiment as JSON (as POST /api/v1/experiments), or @file")):
        """Define an experiment (a draft)."""
        from pydantic import ValidationError

        from .experiments import ExperimentIn, create

        text = spec
        if spec.startswith("@"):
            try:
                text = Path(spec[1:]).read_text()
            except OSError as exc:
                _fail(f"cannot read {spec[1:]}: {exc.strerror}")
        try:
            body = ExperimentIn.model_validate_json(text)
        except ValidationError as exc:
            _fail("invalid experiment: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                      for e in exc.errors()))
        with platform.session() as s:
            e = create(platform, s, body)
            key = e.key
        typer.echo(f"created {key} (draft): `musicconnect experiments start {key}` runs it")

    @app.command("start")
    @_guard
    def start_cmd(key: str):
        """Start an experiment: its flag serves the variants by weight."""
        from .experiments import start

        with platform.session() as s:
            start(platform, s, key)
        typer.echo(f"{key} is running")

    @app.command("stop")
    @_guard
    def stop_cmd(key: str):
        """Stop an experiment (its results stay)."""
        from .experiments import stop

        with platform.session() as s:
            stop(platform, s, key)
        typer.echo(f"{key} is stopped")

    @app.command("results")
    @_guard
    def results_cmd(key: str, alpha: float = typer.Option(0.05, "--alpha", min=0.0001, max=0.4999),
                    as_json: bool = typer.Option(False, "--json")):
        """Per variant: users, mean, CI, lift vs control with CI, p-value; SRM; guardrails."""
        from .experiments import results

        doc = results(platform, key, alpha)
        if as_json:
            typer.echo(json.dumps(doc))
        else:
            print_results(doc)

    return app
