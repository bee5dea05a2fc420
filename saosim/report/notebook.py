"""Figures that read anywhere: interactive in Jupyter, a static PNG beside them for exported
HTML, GitHub's preview and other viewers that run no JavaScript.

plotly's ``plotly_mimetype`` output is drawn by JupyterLab, Notebook 7 and VS Code; ``png``
(kaleido, driving a headless Chromium) adds a picture to the same output, which ``jupyter
nbconvert --to html`` and GitHub show. (``notebook_connected`` would not do: its HTML loads
plotly.js from a CDN through require.js, and renders empty in an exported page.)
"""

from __future__ import annotations

import atexit
import warnings

from saosim.errors import SaosimWarning

__all__ = ["notebook_renderer"]

#: interactive where JavaScript runs, a PNG everywhere else
STATIC_FALLBACK = "plotly_mimetype+png"
_STARTED = {"server": False}


def notebook_renderer(
    renderer: str = STATIC_FALLBACK, *, width: int = 1000, height: int = 440
) -> str:
    """Set plotly's default renderer for this kernel and return it.

    With kaleido and a Chromium (``pip install 'saosim[notebook]'``; ``.ci/run`` installs
    Chromium) figures carry a PNG of ``width`` × ``height`` pixels; kaleido's browser is started
    once and kept for the kernel's life, so each figure costs a fraction of a second. Without
    them figures stay interactive only, and a :class:`~saosim.errors.SaosimWarning` says so.

    >>> import plotly.io as pio
    >>> before = pio.renderers.default
    >>> notebook_renderer("plotly_mimetype")
    'plotly_mimetype'
    >>> pio.renderers.default = before
    """
    import plotly.io as pio

    if "png" in renderer.split("+") and not _start_kaleido():
        renderer = "+".join(r for r in renderer.split("+") if r != "png") or "plotly_mimetype"
    if "png" in renderer.split("+"):
        pio.renderers["png"].width = width
        pio.renderers["png"].height = height
    pio.renderers.default = renderer
    return renderer


def _start_kaleido() -> bool:
    if _STARTED["server"]:
        return True
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
    except Exception as exc:  # no kaleido, or no Chromium for it to drive
        warnings.warn(
            SaosimWarning(
                f"figures stay interactive only ({type(exc).__name__}: {exc}); they will not "
                "show in exported HTML or on GitHub. Install the notebook extra "
                "(pip install 'saosim[notebook]') and Chromium (apt-get install chromium)."
            ),
            stacklevel=3,
        )
        return False
    # plotly passes its per-call options to the shared server, which ignores them
    warnings.filterwarnings("ignore", message="The kopts argument is ignored")
    atexit.register(_stop_kaleido)
    _STARTED["server"] = True
    return True


def _stop_kaleido() -> None:
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)
    _STARTED["server"] = False
