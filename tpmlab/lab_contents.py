"""Notebooks open unmodified in the learner's JupyterLab: the contents manager of ``make lab``.

The course commits its notebooks with the bare ``language_info`` that ``python -m tpmlab.authoring
clean`` leaves (``{"name": "python"}``), so that no Python patch version is written into a
notebook. When a kernel starts, JupyterLab copies the kernel's full ``language_info`` (version,
mimetype, lexer...) into the open notebook; when that differs from what was loaded, the notebook
counts as changed, and a learner who only opened a lesson is asked to save it on closing.

:class:`CourseContentsManager` is Jupyter Server's own file contents manager, except that a Python
notebook it hands to JupyterLab already carries the ``language_info`` of this environment's
IPython kernel (the kernel a learner's notebook starts), so the kernel's report changes nothing.
Files on disk are read and written exactly as before; the filled-in metadata is only written if
the learner saves. ``python -m tpmlab.course learner-setup`` (``make lab``, Binder) sets it as
``ServerApp.contents_manager_class``; the same approach as jupytext's contents manager.
"""

from __future__ import annotations

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


def kernel_language_info() -> dict:
    """The ``language_info`` an IPython kernel of this Python reports in its ``kernel_info_reply``."""
    from ipykernel.ipkernel import IPythonKernel

    info = dict(IPythonKernel.language_info)
    info["codemirror_mode"] = dict(info.get("codemirror_mode") or {})
    return info


def with_kernel_language_info(notebook: dict) -> bool:
    """Give a Python notebook (a notebook model's content) the kernel's ``language_info``.

    Returns whether it was changed. A notebook of another language, or whose kernel is not
    Python, is left as it is."""
    metadata = notebook.setdefault("metadata", {})
    kernelspec = metadata.get("kernelspec") or {}
    language = kernelspec.get("language", "python")
    current = metadata.get("language_info") or {}
    if language != "python" or current.get("name", "python") != "python":
        return False
    info = kernel_language_info()
    if current == info:
        return False
    metadata["language_info"] = info
    return True


class CourseContentsManager(AsyncLargeFileManager):
    """Jupyter Server's file contents manager, with Python notebooks handed out carrying the
    kernel's ``language_info`` (see the module docstring)."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "notebook" and isinstance(model.get("content"), dict):
            with_kernel_language_info(model["content"])
        return model
