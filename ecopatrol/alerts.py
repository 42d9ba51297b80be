"""``ecopatrol alerts``: list the air-quality alerts, rank an alert's likely sources, plan a
patrol to them.

``list`` prints one alert a line (latest opened first); ``rank`` prints the
enterprises ranked as the alert's source (rank, site, industry, score) with
the wind and stability class the ranking rests on and what it assumed;
``patrol`` plans a patrol to the top candidates from the docks with a drone
free and stores it (the missions remember the alert), then prints its
sorties. Anything that stops a command is one line on stderr: exit status 2
for bad input (no such alert), 1 when the alert cannot be ranked or planned
(no wind reported, a name already taken, the planner's refusal).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from ecopatrol.cli import store_session
from imagery.dispatch.cli import DbOption

if TYPE_CHECKING:
    from sqlmodel import Session

    from store.models import Alert, Mission

alerts_app = typer.Typer(help="Air-quality alerts and their likely sources.", no_args_is_help=True)
AlertArg = Annotated[str, typer.Argument(help="The alert's id (ecopatrol alerts list).")]
TopOption = Annotated[int, typer.Option(min=1, max=100, help="How many candidates, best first.")]


def register(app: typer.Typer) -> None:
    """Add the ``alerts`` commands to the root app."""
    app.add_typer(alerts_app, name="alerts")


def _alert(session: Session, alert_id: str) -> Alert:
    from ecopatrol.cli import fail
    from store.models import Alert

    try:
        key = uuid.UUID(alert_id)
    except ValueError:
        raise fail(f"{alert_id!r} is not an alert id") from None
    alert = session.get(Alert, key)
    if alert is None:
        raise fail(f"no alert {alert_id}")
    return alert


def _refusals() -> tuple[type[Exception], ...]:
    """What ranking or planning refuses with a reason (printed as one line, exit 1)."""
    from missions.errors import MissionError
    from server.alerts import AlertRankingError
    from server.errors import ConflictError
    from zone.errors import ZoneError

    return (AlertRankingError, ConflictError, MissionError, ZoneError)


@alerts_app.command("list")
def list_alerts(
    open_only: Annotated[bool, typer.Option("--open", help="Only the open alerts.")] = False,
    db: DbOption = None,
) -> None:
    """The alerts, latest opened first: id, station, pollutant, reason, peak and state."""
    from sqlmodel import col, select

    from store.models import Alert
    from store.readings import as_utc

    with store_session(db) as session:
        query = select(Alert).order_by(col(Alert.opened_at).desc(), col(Alert.id))
        if open_only:
            query = query.where(col(Alert.closed_at).is_(None))
        alerts = session.exec(query).all()
        for a in alerts:
            state = "open" if a.closed_at is None else f"closed {as_utc(a.closed_at):%H:%M}"
            typer.echo(
                f"{a.id}  {a.station_id}  {a.pollutant}  {a.reason}  "
                f"peak {a.peak_value:g} {a.unit} at {as_utc(a.peak_at):%Y-%m-%d %H:%M}Z  {state}"
            )
        if not alerts:
            typer.echo("no open alerts" if open_only else "no alerts")


@alerts_app.command("rank")
def rank(alert_id: AlertArg, top: TopOption = 5, db: DbOption = None) -> None:
    """The enterprises ranked as the alert's source at its peak hour: rank, site, industry,
    score (the share of the posterior)."""
    from ecopatrol.cli import fail
    from server.alerts import rank_alert

    with store_session(db) as session:
        alert = _alert(session, alert_id)
        try:
            ranking = rank_alert(session, alert, top=top)
        except _refusals() as exc:
            raise fail(str(exc), 1) from None
        where = f"{alert.station_id} {alert.pollutant}"
    typer.echo(
        f"{where} at {ranking.time:%Y-%m-%d %H:%M}Z: wind "
        f"{ranking.wind.speed_m_s:g} m/s from {ranking.wind.from_deg:g} deg, "
        f"stability {ranking.stability}"
    )
    _table(
        ("rank", "site", "industry", "score"),
        [
            (str(k), c.site_id, c.industry or "-", f"{c.score:.3f}")
            for k, c in enumerate(ranking.candidates, start=1)
        ],
    )
    typer.echo(ranking.assumptions)


@alerts_app.command("patrol")
def patrol(
    alert_id: AlertArg,
    top: TopOption = 3,
    name: Annotated[
        str | None,
        typer.Option(help="The patrol's name (default: alert <station> <pollutant> <time>)."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.1, max=600, help="Route search seconds.")
    ] = 10.0,
    db: DbOption = None,
) -> None:
    """Plan a patrol to the alert's top candidates and store it; print its sorties."""
    from ecopatrol.cli import fail
    from server.alerts import plan_alert_patrol_from_store

    with store_session(db) as session:
        alert = _alert(session, alert_id)
        try:
            planned = plan_alert_patrol_from_store(
                session, alert, top=top, name=name, time_limit_s=time_limit
            )
        except _refusals() as exc:
            raise fail(str(exc), 1) from None
        sorties = [_sortie_row(m) for m in planned.missions]
    candidates = ", ".join(c.site_id for c in planned.ranking.candidates)
    typer.echo(
        f"patrol {planned.name!r}: {len(sorties)} sortie{'' if len(sorties) == 1 else 's'} "
        f"to {candidates}, "
        f"{planned.patrol.length_m / 1000:.2f} km"
    )
    _table(("sortie", "mission", "dock", "targets", "length", "photos"), sorties)


def _sortie_row(mission: Mission) -> tuple[str, ...]:
    dock = ((mission.plan or {}).get("dock") or {}).get("id", "?")
    return (
        str(mission.sortie_index),
        str(mission.id),
        str(dock),
        ", ".join(mission.targets or []),
        f"{mission.length_m / 1000:.2f} km",
        str(mission.photo_count),
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
