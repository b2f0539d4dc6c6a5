"""Dashboard: feedback over time, approval per model version, the model registry with lineage
and study scores, and the study reports kept in the workspace."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from ragft.serve import deps
from ragft.models.registry import ModelRegistry
from ragft.workspace import Workspace
from ragft.serve.leaderboard import wilson_interval

router = APIRouter()
KINDS = ("votes", "ratings", "edits", "pairwise")


@router.get("/dashboard")
def dashboard(request: Request):
    store = deps.store(request)
    workspace = deps.engine(request).workspace
    return deps.render(request, "dashboard.html", counts=store.counts(), days=_by_day(store.counts_by_day()),
                       approval=_approval(store.approval_by_model()), versions=_versions(workspace.path),
                       reports=_reports(workspace.path), kinds=KINDS)


def _by_day(rows: list[dict]) -> list[dict]:
    days: dict[str, dict] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for row in rows:
        days[row["day"]][row["kind"]] = row["n"]
    peak = max((sum(d.values()) for d in days.values()), default=1) or 1
    return [{"day": day, **counts, "total": sum(counts.values()), "width": round(100 * sum(counts.values()) / peak)}
            for day, counts in sorted(days.items())]


def _approval(table: dict[str, dict[str, int]]) -> list[dict]:
    rows = []
    for model, votes in sorted(table.items()):
        n = votes["up"] + votes["down"]
        low, high = wilson_interval(votes["up"], n)
        rows.append({"model": model or "(unknown)", "up": votes["up"], "down": votes["down"],
                     "rate": votes["up"] / n if n else 0.0, "low": low, "high": high})
    return rows


def _versions(workspace: Path) -> list[dict]:
    """The registry's versions as plain rows (read defensively: fields may be missing)."""
    rows = []
    for version in ModelRegistry(Workspace(workspace).models_dir).list():
        created = getattr(version, "created_at", "")
        if isinstance(created, (int, float)):
            created = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%d %H:%M")
        scores = getattr(version, "scores", {}) or {}
        rows.append({"name": version.name, "base_model": getattr(version, "base_model", ""),
                     "method": getattr(version, "method", ""), "parent": getattr(version, "parent", "") or "—",
                     "status": getattr(version, "status", ""), "created_at": created,
                     "data": (getattr(version, "data_sha256", "") or "")[:12],
                     "scores": [(study, ", ".join(f"{k} {v:.3f}" if isinstance(v, (int, float)) else f"{k} {v}"
                                                  for k, v in metrics.items()))
                                for study, metrics in scores.items()]})
    return rows


def _reports(workspace: Path) -> list[str]:
    runs = Workspace(workspace).runs_dir
    return sorted(p.parent.name for p in runs.glob("*/report.html")) if runs.is_dir() else []


@router.get("/reports/{run}/report.html")
def report(request: Request, run: str):
    """A study report from ``<workspace>/runs/<run>/report.html`` — and nothing else."""
    runs = deps.engine(request).workspace.runs_dir.resolve()
    path = (runs / run / "report.html").resolve()
    if "/" in run or run.startswith(".") or path.parent.parent != runs or not path.is_file():
        raise HTTPException(404, f"no study report named {run!r} in this workspace")
    return FileResponse(path, media_type="text/html")
