"""Documents: upload (size- and type-checked, loaded with the ingest loaders), list, remove,
re-index. Form posts carry the session's CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile

from ragft.errors import RagftError
from ragft.serve import corpus, deps
from ragft.serve.security import check_csrf

router = APIRouter()


def _page(request: Request, message: str = "", error: str = "", status_code: int = 200):
    workspace = deps.engine(request).workspace
    return deps.render(request, "documents.html", status_code=status_code, documents=corpus.list_documents(workspace),
                       message=message, error=error, max_mb=request.app.state.settings.max_upload_mb,
                       extensions=", ".join(corpus.SUPPORTED_EXTENSIONS))


@router.get("/documents")
def documents_page(request: Request):
    return _page(request)


async def _reindex(request: Request) -> str:
    engine = deps.engine(request)

    def work():
        stats, notes = corpus.reindex(engine.workspace, engine.embedder(), engine.config)
        engine.reload_index()
        return stats, notes

    stats, notes = await deps.worker(request).run(work, lane="pages")
    text = (f"Index: {stats.chunks} chunks from {stats.documents} documents ({stats.added} new, {stats.changed} "
            f"changed, {stats.removed} removed).")
    return text + (" Skipped: " + "; ".join(notes) if notes else "")


@router.post("/documents/upload")
async def upload(request: Request, file: UploadFile = File(...), csrf: str = Form("")):
    check_csrf(request, csrf)
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)  # one byte over is enough to know it is too big
    try:
        corpus.check_upload(file.filename or "", len(data), limit)
        await deps.in_thread(corpus.save_upload, deps.engine(request).workspace, file.filename or "", data, limit)
    except RagftError as err:
        return _page(request, error=str(err), status_code=400)
    return _page(request, message=f"Uploaded {file.filename}. " + await _reindex(request))


@router.post("/documents/remove")
async def remove(request: Request, doc_id: str = Form(...), csrf: str = Form("")):
    check_csrf(request, csrf)
    try:
        corpus.remove_upload(deps.engine(request).workspace, doc_id)
    except RagftError as err:
        return _page(request, error=str(err), status_code=400)
    return _page(request, message=f"Removed {doc_id}. " + await _reindex(request))


@router.post("/documents/reindex")
async def reindex(request: Request, csrf: str = Form("")):
    check_csrf(request, csrf)
    return _page(request, message=await _reindex(request))
