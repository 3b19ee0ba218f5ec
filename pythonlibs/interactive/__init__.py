"""Interactive views: live training curves and explorable figures.

Nothing depends on a widget.  ``LiveCurves`` keeps exactly one image in the cell's output and
replaces it after every epoch, so the final curves stay as a static image when the notebook is
saved or run headless (CI).  ``explore`` first draws the static figure for the controls' start
values, the one the text describes; the ipywidgets controls below it only redraw a copy.

The computation behind each control is a plain function in one of the topic modules of this
package (``optimization``, ...), unit-tested with the values a learner might choose.

Why not livelossplot or fastprogress for the live curves: livelossplot redraws by clearing the
cell's output, which also wipes ``fit``'s epoch log and progress bar; fastprogress replaces the
tqdm bar that ``fit`` already shows.  IPython's display handles update one image in place in
JupyterLab, Colab, VS Code and nbclient alike, and need no extra package.
"""

from __future__ import annotations

import io
import math
import time

import numpy as np
from matplotlib.figure import Figure

from pythonlibs.plotting import draw_learning_curves

__all__ = ["in_notebook", "figure_png", "history_png", "LiveCurves", "explore", "control_panel",
           "show_message", "message_on"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab, VS Code, nbclient in CI)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (drawn without pyplot, so no second copy appears in the cell)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def history_png(history, title: str | None = None) -> bytes:
    """The loss and accuracy curves of a ``fit`` history, as PNG bytes."""
    fig = Figure(figsize=(10, 3.2))
    draw_learning_curves(fig.subplots(1, 2), np.asarray(history, dtype=float), title)
    fig.tight_layout()
    return figure_png(fig)


def show_message(fig, text: str) -> None:
    """Draw a Japanese message instead of the figure (what a view shows for a value it cannot
    draw, e.g. a negative probability), on one empty axes."""
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=12, color="firebrick")


def message_on(fig) -> str:
    """The message ``show_message`` wrote on ``fig`` ("" when the figure shows a drawing)."""
    if len(fig.axes) != 1 or fig.axes[0].axison:
        return ""
    return " ".join(t.get_text() for t in fig.axes[0].texts)


def _ipython_display(obj, display_id: bool):
    from IPython.display import display
    return display(obj, display_id=display_id)


class LiveCurves:
    """The learning curves of a running ``fit``, redrawn in place as epochs finish.

    The first ``update`` displays one image; later ones replace it through IPython's display
    handle, at most once every ``min_interval`` seconds (drawing takes about 0.1-0.2 s, longer
    than an epoch of a small model); ``close`` draws the last history if it is not shown yet,
    so the figure left in the cell is always the final one.  ``show`` is IPython's ``display``
    (a test may pass its own function with the same signature).
    """

    def __init__(self, title: str | None = None, show=None, min_interval: float = 1.0):
        self.title = title
        self.min_interval = min_interval
        self._show = show or _ipython_display
        self._handle = None
        self._drawn_at = -math.inf
        self._pending = None
        self.updates = 0

    def update(self, history) -> None:
        """Show ``history`` (rows [epoch, train_loss, train_acc, val_loss, val_acc]), or keep it
        for later when the last drawing is less than ``min_interval`` seconds old."""
        if time.monotonic() - self._drawn_at < self.min_interval:
            self._pending = np.array(history, copy=True)
            return
        self._draw(history)

    def close(self) -> None:
        """Draw the last history kept by ``update``, if any."""
        if self._pending is not None:
            self._draw(self._pending)

    def _draw(self, history) -> None:
        from IPython.display import Image

        image = Image(data=history_png(history, self.title), format="png")
        if self._handle is None:
            self._handle = self._show(image, display_id=True)
        else:
            self._handle.update(image)
        self._drawn_at, self._pending = time.monotonic(), None
        self.updates += 1


def explore(draw, figsize=(6, 4), **controls):
    """A figure to play with: ``draw(fig, **values)`` with one ipywidgets control per value.

    Draws the static figure for the controls' start values first (what the notebook's text
    describes, and what stays when the notebook runs headless), then, in a notebook, shows the
    controls and an area below them where a copy is redrawn on every change.  Nothing depends
    on moving the controls.  Returns the controls' box (None outside a notebook).
    """
    import matplotlib.pyplot as plt

    values = {name: control.value for name, control in controls.items()}
    draw(plt.figure(figsize=figsize), **values)
    plt.show()
    if not in_notebook():
        return None
    from IPython.display import display

    box = control_panel(draw, figsize, **controls)
    display(box)
    return box


def control_panel(draw, figsize=(6, 4), **controls):
    """The controls of ``explore`` above an output area that redraws ``draw`` on every change."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    output = widgets.Output()

    def redraw(_change=None):
        with output:
            output.clear_output(wait=True)
            draw(plt.figure(figsize=figsize), **{name: c.value for name, c in controls.items()})
            plt.show()

    for control in controls.values():
        control.observe(redraw, names="value")
    return widgets.VBox([widgets.HTML("<b>動かしてみよう</b> (上の図はそのまま残ります):"),
                         *controls.values(), output])
