"""The Salary pages: a FastAPI app the Airflow api-server mounts at ``/salary`` (plugins/salary_ui.py).

Airflow does not authenticate plugin apps, so every route here depends on Airflow's own check:
a logged-in user (the UI's ``_token`` cookie or an ``Authorization: Bearer`` token) whom the
auth manager allows to read the runs of the DAG the page is about. Pages are server-rendered
HTML with relative links (they open inside the UI's iframe, behind any path prefix); pictures
are streamed from the lake.
"""

from __future__ import annotations

import html
import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from salary_airflow.ui import catalog
from salary_airflow.ui.catalog import PREDICT, TRAINING, NotFound

CSS = """body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1a202c}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border-bottom:1px solid #e2e8f0;padding:.25rem .6rem;
text-align:left;vertical-align:top}th{background:#f7fafc}.yes{color:#276749}.no{color:#9b2c2c}
img{max-width:100%;border:1px solid #e2e8f0;margin:.25rem 0}nav a{margin-right:1rem}code{font-size:90%}"""


def lake() -> catalog.Lake:
    """The lake this deployment's DAGs use: the ``lake_root`` Airflow Variable (as in the DAGs'
    ``{{ var.value.lake_root }}``), laid out by config/pipeline.toml."""
    from airflow.models.variable import Variable

    from salary.config import load_settings
    from salary.lake import Lake, LakeIO
    from salary.lake.fsspec_store import FsspecStore

    return LakeIO(Lake(Variable.get("lake_root"), load_settings().lake), FsspecStore())


def can_read_runs(dag_id: str | None = None) -> Any:
    """Airflow's own check: may the caller read the runs of ``dag_id`` (None: the ``dag_id``
    path parameter)? 401 without a valid, unexpired token; 403 when the role may not."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=dag_id))


LakeDep = Annotated[catalog.Lake, Depends(lake)]


def create_app() -> FastAPI:
    app = FastAPI(title="Salary model", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/model", response_class=HTMLResponse, dependencies=[can_read_runs(TRAINING)])
    def model_page(request: Request, lake: LakeDep) -> str:
        pointer = catalog.champion(lake)
        return model_html(request, catalog.history(lake, pointer), pointer)

    @app.get("/model/chart.svg", dependencies=[can_read_runs(TRAINING)])
    def model_chart(lake: LakeDep) -> Response:
        return Response(chart_svg(catalog.history(lake)), media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

    @app.get("/api/model", dependencies=[can_read_runs(TRAINING)])
    def model_json(lake: LakeDep) -> dict[str, Any]:
        return {"champion": catalog.champion(lake),
                "versions": [{k: getattr(v, k) for k in ("version", "at", "test_mse_over_floor", "promoted",
                                                           "reason", "trigger", "champion")}
                             for v in catalog.history(lake)]}

    @app.get("/model/versions/{version}", response_class=HTMLResponse, dependencies=[can_read_runs(TRAINING)])
    def version_page(request: Request, version: str, lake: LakeDep) -> str:
        return version_html(request, catalog.version_detail(lake, version))

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[can_read_runs()])
    def run_page(request: Request, dag_id: str, run_id: str, lake: LakeDep) -> str:
        if dag_id == TRAINING:
            return training_html(request, catalog.training_run(lake, run_id))
        if dag_id == PREDICT:
            return prediction_html(request, catalog.prediction_run(lake, run_id))
        raise NotFound(f"no Salary view of {dag_id!r} runs")

    @app.get("/drops", response_class=HTMLResponse, dependencies=[can_read_runs(PREDICT)])
    def drops_page(request: Request, lake: LakeDep) -> str:
        return drops_html(request, catalog.recent_drops(lake))

    @app.get("/pictures/model/{name}/{file}", dependencies=[can_read_runs(TRAINING)])
    def model_picture(name: str, file: str, lake: LakeDep) -> Response:
        return stream_png(lake, catalog.picture_uri(lake, "model", name, file))

    @app.get("/pictures/drop/{name}/{file}", dependencies=[can_read_runs(PREDICT)])
    def drop_picture(name: str, file: str, lake: LakeDep) -> Response:
        return stream_png(lake, catalog.picture_uri(lake, "drop", name, file))

    return app


def stream_png(lake: catalog.Lake, uri: str) -> Response:
    try:
        chunks = lake.store.stream(uri)
    except FileNotFoundError as err:
        raise NotFound(f"no picture at {uri}") from err
    return StreamingResponse(chunks, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


# ---------------------------------------------------------------------------------- HTML

def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def link_to(request: Request, target: str) -> str:
    """``target`` (a path below the app, e.g. ``model/versions/v1``) relative to the page the
    request is for: the links work inside Airflow's iframe and behind any path prefix."""
    here = request.url.path[len(request.scope.get("root_path", "")):] or "/"
    return posixpath.relpath("/" + target, posixpath.dirname(here)) if here != "/" else target


def page(request: Request, title: str, body: str) -> str:
    nav = "".join(f'<a href="{esc(link_to(request, target))}">{esc(label)}</a>'
                  for target, label in (("model", "Salary model"), ("drops", "Drops")))
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{esc(title)}</title><style>{CSS}</style>"
            f"<nav>{nav}</nav><h1>{esc(title)}</h1>{body}</html>")


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """An HTML table (no header row when ``headers`` is None); cells are HTML already (callers escape)."""
    head = "" if headers is None else "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}{body}</table>'


def facts(items: Mapping[str, Any]) -> str:
    return table(None, ([esc(k), f"<code>{esc(_text(v))}</code>"] for k, v in items.items()), "facts")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _decision(promoted: bool | None) -> str:
    """The decision as the versions table shows it (promoted green, kept out red)."""
    text = _plain_decision(promoted)
    return text if promoted is None else f'<span class="{"yes" if promoted else "no"}">{text}</span>'


def images(request: Request, kind: str, name: str, files: Sequence[str]) -> str:
    folder = f"pictures/{kind}/{quote(name, safe='')}"
    return "".join(f'<p><img alt="{esc(f)}" src="{esc(link_to(request, f"{folder}/{f}"))}"></p>'
                   for f in files) or "<p>No pictures.</p>"


def model_html(request: Request, versions: Sequence[catalog.Version], champion: Mapping[str, Any] | None) -> str:
    rows = [[f'<a href="{esc(link_to(request, "model/versions/" + quote(v.version, safe="")))}">{esc(v.version)}</a>'
             + (" (champion)" if v.champion else ""), _ratio(v.test_mse_over_floor), _decision(v.promoted),
             esc(v.reason), esc(v.trigger)] for v in reversed(versions)]
    head = (f"<p>Champion: <b>{esc(champion['version'])}</b>, test MSE / noise floor "
            f"{_ratio(champion.get('mse_over_floor'))}</p>" if champion else "<p>No champion yet.</p>")
    chart = (f'<p><img id="history-chart" alt="test MSE over the noise floor per version" '
             f'src="{esc(link_to(request, "model/chart.svg"))}"></p>')
    return page(request, "Salary model", head + chart + f"<h2>{len(versions)} versions</h2>" + table(
        ("version", "test MSE / floor", "decision", "why", "started by"), rows, "versions"))


def version_html(request: Request, detail: Mapping[str, Any]) -> str:
    v: catalog.Version = detail["version"]
    test = dict(v.metrics.get("test") or {})
    body = facts({"decision": _plain_decision(v.promoted),
                  "why": v.reason, "started by": v.trigger, "champion now": v.champion,
                  **{f"test {k}": test.get(k) for k in ("mse", "mse_over_floor", "r2", "mean_baseline_over_floor")},
                  **detail["manifest"], "curated dataset": detail["dataset"].get("curated")})
    return page(request, f"Model version {v.version}", body + "<h2>Pictures</h2>" + images(
        request, "model", v.version, detail["pictures"]))


def stage_table(jobs: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [[esc(job), esc(info.get("seconds")), esc(", ".join(f"{k} {s:.1f} s" for k, s in
                                                              (info.get("stage_seconds") or {}).items()))]
            for job, info in jobs.items()]
    return table(("job", "seconds", "stages"), rows, "stages") if rows else "<p>No job reports for this run.</p>"


def training_html(request: Request, run: Mapping[str, Any]) -> str:
    body = "<h2>Stage times</h2>" + stage_table(run["jobs"])
    model = run["model"]
    if model is None:
        body += "<p>This run published no model version.</p>"
    else:
        v: catalog.Version = model["version"]
        decision = v.decision
        body += (f'<h2>Model <a href="{esc(link_to(request, "model/versions/" + quote(v.version, safe="")))}">'
                 f"{esc(v.version)}</a></h2>" + facts({
                     "decision": _plain_decision(v.promoted), "why": v.reason, "started by": v.trigger,
                     "test MSE / floor": _ratio(v.test_mse_over_floor),
                     "champion's MSE on the same rows": decision.get("champion_test_mse_on_same_rows")})
                 + images(request, "model", v.version, model["pictures"]))
    return page(request, f"salary_training run {run['run_id']}", body)


def _plain_decision(promoted: bool | None) -> str:
    return "no decision" if promoted is None else "promoted" if promoted else "kept out"


def drop_section(request: Request, d: Mapping[str, Any]) -> str:
    result = d["result"]
    if "rejection" in d:
        reason = (d["rejection"] or {}).get("reason") or result.get("reason")
        return f'<section class="drop rejected"><h3>{esc(d["drop"])}: rejected</h3><p>{esc(reason)}</p></section>'
    health = d.get("health") or {}
    monitoring = d.get("monitoring") or {}
    live = monitoring.get("live") or {}
    verdict = "healthy" if health.get("healthy", True) else "unhealthy"
    reasons = "".join(f"<li>{esc(r)}</li>" for r in health.get("reasons") or [])
    event = ("a model-health event was sent" if health.get("event") else "no model-health event")
    event += f" ({esc(health.get('why'))})" if health.get("why") else ""
    psi = psi_table(monitoring)
    return (f'<section class="drop {verdict}"><h3>{esc(d["drop"])}: {verdict}</h3>'
            f"<ul class=reasons>{reasons}</ul><p>{event}</p>{psi}"
            + (f"<p class=note>{esc(monitoring['note'])}</p>" if monitoring.get("note") else "") + facts({
                "rows in / predicted / rejected": f"{result.get('rows_in')} / {result.get('rows_predicted')} / "
                                                  f"{result.get('rows_rejected')}",
                "rejected rows by reason": result.get("rejected_by_reason") or {},
                "live MSE / noise floor": live.get("mse_over_floor"),
                "model's test MSE / floor": live.get("test_mse_over_floor"),
                "model version": result.get("model_version")})
            + images(request, "drop", d["drop"], d.get("pictures") or []) + "</section>")


def psi_table(monitoring: Mapping[str, Any]) -> str:
    drifted = monitoring.get("drifted") or []
    return table(("feature", "PSI", "drifted"), ([esc(k), f"{v:.4f}", "yes" if k in drifted else ""]
                                                 for k, v in (monitoring.get("psi") or {}).items()), "psi")


def pooled_section(pooled: Mapping[str, Any] | None) -> str:
    """The drift of a run's drops too small to be judged alone, taken as one sample."""
    if not pooled:
        return ""
    drifted = pooled.get("drifted") or []
    verdict = ("drifted" if drifted else "judged: no drift" if pooled.get("judged")
               else "not judged yet (too few rows): they wait for the next runs")
    drops, carried = pooled.get("drops") or [], pooled.get("carried") or []
    return (f'<section class="pool{" drifted" if drifted else ""}"><h3>{len(drops)} drops too small to '
            f"judge alone, pooled ({pooled.get('rows', 0):,} rows): {esc(verdict)}</h3>{psi_table(pooled)}"
            + (f"<p class=note>{esc(pooled['note'])}</p>" if pooled.get("note") else "")
            + f"<p>{esc(', '.join(drops))}</p>"
            + (f"<p>from earlier runs: {esc(', '.join(carried))}</p>" if carried else "") + "</section>")


def prediction_html(request: Request, run: Mapping[str, Any]) -> str:
    drops = run["drops"]
    body = (f"<p>Model {esc(run['model_version'])}; {len(drops)} drops.</p>" if drops
            else "<p>This run predicted no drops.</p>")
    return page(request, f"salary_batch_predict run {run['run_id']}", body + pooled_section(run.get("pooled_drift"))
                + "".join(drop_section(request, d) for d in drops))


def drops_html(request: Request, records: Sequence[Mapping[str, Any]]) -> str:
    rows = [[esc(r.get("drop")), "healthy" if r.get("healthy") else '<span class="no">unhealthy</span>',
             esc("; ".join(r.get("reasons") or [])), "yes" if r.get("event") else "", esc(r.get("decided_at")),
             f'<a href="{esc(link_to(request, f"runs/{PREDICT}/" + quote(str(r.get("run")), safe="")))}">'
             f"{esc(r.get('run'))}</a>"] for r in records]
    return page(request, "Drops", table(("drop", "verdict", "reasons", "event", "decided", "run"), rows, "drops"))


# ---------------------------------------------------------------------------------- chart

def chart_svg(versions: Sequence[catalog.Version], width: int = 720, height: int = 260) -> str:
    """Test MSE over the noise floor per version, oldest left: promoted versions green, kept-out
    grey, the champion ringed; 1.0 (the floor) dashed."""
    scored = [v for v in versions if v.test_mse_over_floor is not None]
    pad, top = 48, 24
    if not scored:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="80">'
                '<text x="10" y="40">No model versions yet.</text></svg>')
    values = [float(v.test_mse_over_floor or 0) for v in scored]
    low, high = min(1.0, *values), max(values)
    span = (high - low) or 1.0

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(1, len(scored) - 1))

    def y(value: float) -> float:
        return top + (height - top - pad) * (1 - (value - low) / span)

    points = " ".join(f"{x(i):.1f},{y(val):.1f}" for i, val in enumerate(values))
    marks = "".join(_mark(x(i), y(val), v) for i, (val, v) in enumerate(zip(values, scored, strict=True)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" '
            f'font-family="sans-serif"><title>test MSE / noise floor per model version</title>'
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(1.0):.1f}" y2="{y(1.0):.1f}" stroke="#718096" '
            f'stroke-dasharray="4 3"/><text x="4" y="{y(1.0) + 4:.1f}">floor</text>'
            f'<text x="4" y="{y(high) + 4:.1f}">{high:.3f}</text>'
            f'<polyline fill="none" stroke="#3182ce" points="{points}"/>{marks}'
            f'<text x="{pad}" y="{height - 12}">{esc(scored[0].version)}</text>'
            f'<text x="{width - pad}" y="{height - 12}" text-anchor="end">{esc(scored[-1].version)}</text></svg>')


def _mark(cx: float, cy: float, v: catalog.Version) -> str:
    colour = "#38a169" if v.promoted else "#a0aec0"
    ring = (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="8" fill="none" stroke="#d69e2e" stroke-width="2"/>'
            if v.champion else "")
    return (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>{esc(v.version)}: '
            f"{_ratio(v.test_mse_over_floor)}</title></circle>{ring}")

