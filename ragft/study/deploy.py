"""Deploy the winner: write a finished study's variants into a workspace's ``deployment.yaml``.

``deploy_study(run_dir, workspace, variant=None)`` takes the variants the study scored (their
``VariantSpec``s, saved as ``variants.json`` beside ``results.json``) and makes the recommended
one — or the one named — the workspace's default; the others are served too, by name. A
generator from the study's own model registry is pointed at by its folder when the workspace's
registry does not hold it, and indexes the workspace lacks are read from the study's run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from ragft.deployment import Deployment, save_deployment
from ragft.errors import RagftError
from ragft.persist import atomic_write_text
from ragft.models.registry import REGISTRY_PREFIX, ModelRegistry, registry_for
from ragft.rag.variant import VariantSpec
from ragft.study.report import read_results
from ragft.workspace import Workspace

SPECS_FILE = "variants.json"
NOT_DEPLOYABLE = {"majority-label"}  # references that are not pipelines


def write_specs(run_dir: Path, specs: list[VariantSpec], registry: str | None) -> None:
    """Save the specs a study scored (and where its registry is) beside its results."""
    payload = {"registry": registry, "variants": [spec.model_dump(mode="json") for spec in specs]}
    atomic_write_text(Path(run_dir) / SPECS_FILE, json.dumps(payload, indent=1, ensure_ascii=False))


def read_specs(run_dir: Path) -> tuple[list[VariantSpec], str | None]:
    source = Path(run_dir) / SPECS_FILE
    if not source.is_file():
        raise RagftError(f"{source}: not found — re-run the study with this ragft version (older runs did not "
                         "save their variants' specs)")
    data = json.loads(source.read_text(encoding="utf-8"))
    return [VariantSpec.model_validate(item) for item in data["variants"]], data.get("registry")


def chosen_variant(results: dict, variant: str | None) -> str:
    """The named variant, else the study's recommendation (a clear error when it made none)."""
    if variant:
        return variant
    recommendation = results.get("recommendation") or {}
    if recommendation.get("variant"):
        return recommendation["variant"]
    leader = recommendation.get("leader")
    raise RagftError(f"the study recommends no variant ({recommendation.get('status', 'no verdict')}) — choose "
                     f"one with --variant NAME{f' (the best scorer was {leader})' if leader else ''}")


def deploy_study(run_dir: Path, workspace: Workspace, variant: str | None = None) -> Deployment:
    """Make ``variant`` (default: the recommended one) what ``workspace`` serves; returns the deployment."""
    run_dir = Path(run_dir).resolve()
    results = read_results(run_dir)
    specs, registry = read_specs(run_dir)
    default = chosen_variant(results, variant)
    names = [spec.name for spec in specs]
    if default not in names:
        raise RagftError(f"--variant {default!r}: the study at {run_dir} has no such deployable variant — "
                         f"choose from: {', '.join(names)}")
    served = [_portable(spec, registry, workspace) for spec in specs if spec.name not in NOT_DEPLOYABLE]
    deployment = Deployment(default=default, variants=served, source=str(run_dir),
                            indexes=str(run_dir / "indexes") if (run_dir / "indexes").is_dir() else None,
                            history=[f"deployed {default} from {run_dir}"])
    save_deployment(workspace, deployment)
    return deployment


def _portable(spec: VariantSpec, registry: str | None, workspace: Workspace) -> VariantSpec:
    """``registry:NAME`` stays when the workspace's registry holds that version; otherwise the
    generator is named by the version's folder in the study's registry."""
    if not (spec.generates and spec.llm and spec.llm.model.startswith(REGISTRY_PREFIX)):
        return spec
    name = spec.llm.model.removeprefix(REGISTRY_PREFIX)
    if any(v.name == name for v in ModelRegistry(workspace.models_dir).list()):
        return spec
    if registry is None:
        raise RagftError(f"variant {spec.name!r} uses {spec.llm.model}, but the study recorded no registry")
    version = registry_for(registry).get(name)
    return spec.with_llm(spec.llm.model_copy(update={"model": str(version.path)}), spec.model_version)
