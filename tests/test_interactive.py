"""Interactive views: fit's live curves (updated in place in a real kernel, nothing outside one),
and explorables (the static figure first; controls only redraw a copy)."""

import io

import ipywidgets as widgets
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from pythonlibs.interactive import LiveCurves, control_panel, explore, history_png, in_notebook
from pythonlibs.training import fit

HISTORY = np.array([[1, 2.0, 0.3, 1.9, 0.35], [2, 1.5, 0.5, 1.6, 0.45], [3, 1.1, 0.6, 1.3, 0.55]])


class RecordingDisplay:
    """Stands in for IPython's display: records what is shown and what its handle replaces."""

    def __init__(self):
        self.shown, self.replaced = [], []

    def __call__(self, obj, display_id):
        assert display_id is True, "LiveCurves must ask for a display handle to update in place"
        self.shown.append(obj)
        recorder = self

        class Handle:
            def update(self, new):
                recorder.replaced.append(new)
        return Handle()


def test_history_png_is_a_picture_of_the_curves():
    picture = Image.open(io.BytesIO(history_png(HISTORY, "テスト")))
    assert picture.format == "PNG" and picture.width > 400 and picture.height > 150


def test_live_curves_show_one_image_and_replace_it_after_each_epoch():
    recorder = RecordingDisplay()
    view = LiveCurves(show=recorder, min_interval=0)
    for n in range(1, 4):
        view.update(HISTORY[:n])
    view.close()
    assert len(recorder.shown) == 1 and len(recorder.replaced) == 2 and view.updates == 3
    first, last = recorder.shown[0].data, recorder.replaced[-1].data
    assert first != last, "the replaced image must show the longer history"


def test_fast_epochs_are_drawn_at_most_once_an_interval_and_the_last_always():
    recorder = RecordingDisplay()
    view = LiveCurves(show=recorder, min_interval=3600)
    for n in range(1, 4):
        view.update(HISTORY[:n])
    assert len(recorder.shown) == 1 and recorder.replaced == [], "epochs within the interval are not drawn"
    view.close()
    assert len(recorder.replaced) == 1 and recorder.replaced[0].data == history_png(HISTORY)
    view.close()
    assert len(recorder.replaced) == 1, "nothing left to draw"


def test_fit_draws_nothing_outside_a_notebook(digits_dataset, capsys):
    import torch
    from torch import nn, optim

    from pythonlibs.data import make_loader
    assert not in_notebook()
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    loader = make_loader(digits_dataset, 200, shuffle=False)
    fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 2, loader, loader,
        torch.device("cpu"), live=True)
    assert "IPython.core.display.Image" not in capsys.readouterr().out


SETUP = """\
import torch
from torch import nn, optim
from sklearn.datasets import load_digits
from pythonlibs.data import TensorBatchLoader
from pythonlibs.training import fit
digits = load_digits()
x = torch.tensor(digits.data[:300], dtype=torch.float32) / 16
y = torch.tensor(digits.target[:300])
loader = TensorBatchLoader(x, y, batch_size=100, shuffle=False)

def train(epochs, **options):
    torch.manual_seed(0)
    net = nn.Linear(64, 10)
    return fit(net, optim.SGD(net.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs, loader, loader,
               torch.device("cpu"), **options)
"""
RUNS = {"3 epochs": "train(3)", "1 epoch": "train(1)", "3 epochs, live=False": "train(3, live=False)",
        "1 epoch, live=True": "train(1, live=True)", "2 epochs": "train(2)"}


@pytest.fixture(scope="module")
def kernel_outputs():
    """Each run's cell outputs, from a real Jupyter kernel (as in JupyterLab or CI)."""
    cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(code) for code in RUNS.values()]
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return dict(zip(RUNS, (cell.outputs for cell in nb.cells[1:])))


def images_in(outputs):
    return [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]


@pytest.mark.parametrize("run, expected", [("3 epochs", 1), ("1 epoch", 0), ("3 epochs, live=False", 0),
                                           ("1 epoch, live=True", 1)])
def test_fit_in_a_kernel_keeps_one_figure_updated_in_place(kernel_outputs, run, expected):
    outputs = kernel_outputs[run]
    assert len(images_in(outputs)) == expected, [o.output_type for o in outputs]
    logs = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert logs.count("Epoch [") == int(run[0]), "the epoch log must stay next to the live figure"


def test_the_kept_figure_is_the_last_epochs(kernel_outputs):
    """nbclient applies update_display_data as JupyterLab does: the saved image is the final one.
    The runs start from the same weights, so their first images are equal; only the updates differ."""
    three = images_in(kernel_outputs["3 epochs"])[0].data["image/png"]
    two = images_in(kernel_outputs["2 epochs"])[0].data["image/png"]
    assert three != two


def test_explore_draws_the_static_figure_with_the_start_values():
    calls = []
    explore(lambda fig, lr: calls.append(lr), lr=widgets.FloatSlider(value=0.1, min=0, max=1))
    assert calls == [0.1]


def test_moving_a_control_redraws_with_its_new_value():
    calls = []
    slider = widgets.FloatSlider(value=0.1, min=0, max=1)
    box = control_panel(lambda fig, lr, steps: calls.append((lr, steps)), (4, 3), lr=slider,
                        steps=widgets.IntSlider(value=5, min=1, max=50))
    assert calls == [], "the panel must not draw before a control moves (the static figure is above)"
    slider.value = 0.7
    assert calls == [(0.7, 5)]
    assert slider in box.children
