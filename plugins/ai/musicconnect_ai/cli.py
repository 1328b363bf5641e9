"""``musicconnect ai evaluate | fit | rebuild``."""
from __future__ import annotations

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="AI: evaluate and fit the recommendation model, rebuild the listening weights.",
                      no_args_is_help=True)

    @app.command("evaluate")
    def evaluate(fans: int = typer.Option(1000, min=10, max=200_000, help="synthetic fans"),
                 tracks: int = typer.Option(600, min=20, max=100_000, help="synthetic tracks"),
                 clusters: int = typer.Option(6, min=1, max=100, help="planted taste clusters"),
                 seed: int = typer.Option(0, help="random seed"),
                 new_tracks: bool = typer.Option(False, "--new-tracks",
                                                 help="evaluate the cold start of unheard uploads instead")):
        """Time-split evaluation on synthetic listening with planted taste clusters: recall@10 and
        NDCG@10 of ALS and item-item beside the popularity and random baselines; with
        ``--new-tracks``, of new uploads placed by their content beside the artist alone and random."""
        from . import evaluation, synthetic

        if tracks < 2 * clusters:
            _fail("need at least two tracks per cluster")
        data = synthetic.generate(fans=fans, tracks=tracks, artists=max(clusters, tracks // 10), clusters=clusters, seed=seed)
        if new_tracks:
            typer.echo(evaluation.table_new(evaluation.evaluate_new(data, seed=seed)))
        else:
            typer.echo(evaluation.table(evaluation.evaluate(data, seed=seed)))

    @app.command("fit")
    def fit():
        """Fit the recommendation model now (the job ``ai.fit_recommendations`` does it hourly)."""
        from . import recommend

        try:
            result = recommend.fit(platform)
        except Exception as exc:   # the database is unreachable or not migrated
            _fail(f"could not fit: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
        if result["status"] == "failed":
            _fail(f"the fit failed ({result['error']}); the previous model keeps serving")
        typer.echo(" ".join(f"{k}: {v}" for k, v in result.items()))

    @app.command("rebuild")
    def rebuild():
        """Recompute the listening weights from the domain events (idempotent)."""
        from . import interactions

        try:
            stats = interactions.rebuild(platform)
        except Exception as exc:
            _fail(f"could not rebuild: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
        typer.echo(f"{stats['pairs']} fan-track pairs and {stats['affinities']} fan-artist pairs from {stats['events']} events")

    return app
