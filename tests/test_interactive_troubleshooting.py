"""The chapter-13 explorable: each bug switched on alone gets its own finding from
check_training, on real MNIST digits; the view draws every set-up and refuses an unknown one."""

import pytest
import torch
from matplotlib.figure import Figure

from pythonlibs.interactive import message_on
from pythonlibs.interactive.troubleshooting import BUGS, bug_results, bug_setup, make_bug_view
from pythonlibs.settings import mirror_dir

MIRROR = mirror_dir()
pytestmark = pytest.mark.skipif(MIRROR is None or not MIRROR.is_dir(),
                                reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")

EXPECTED = {"シャッフル忘れ": "shuffle", "正規化忘れ": "input_stats", "ロジットに softmax": "logit_activation",
            "別のモデルの optimizer": "optimizer_params", "学習率が大きすぎる": "overfit_batch"}


@pytest.fixture(scope="module")
def results():
    from pythonlibs.datasets import load_mnist
    train = load_mnist(train=True)
    threads = torch.get_num_threads()
    out = bug_results(train.data[:1000], train.targets[:1000], steps=30)
    assert torch.get_num_threads() == threads, "the thread count must be restored"
    return out


def problems(result):
    return {check for severity, check, _ in result.findings if severity in ("warning", "error")}


def test_the_healthy_setup_gets_no_warning(results):
    assert problems(results["バグなし"]) == set()


@pytest.mark.parametrize("bug, check", EXPECTED.items())
def test_each_bug_gets_its_own_finding(results, bug, check):
    assert check in problems(results[bug]), f"{bug}: {results[bug].findings}"


def test_every_bug_of_the_list_is_covered():
    assert set(BUGS) == set(EXPECTED) | {"バグなし"}


def test_the_bugs_change_the_training_curve(results):
    healthy = results["バグなし"].losses
    assert healthy[-1] < 0.5 * healthy[0], "the healthy set-up learns"
    for bug in ("ロジットに softmax", "別のモデルの optimizer"):
        assert results[bug].losses[-1] > 0.7 * results[bug].losses[0], f"{bug} barely learns"


def test_an_unknown_bug_is_refused_in_japanese():
    with pytest.raises(ValueError, match="バグの名前は"):
        bug_setup("typo", [[0] * 784], [0])


def test_the_view_draws_every_setup_and_names_an_unknown_one(results):
    draw = make_bug_view(results)
    for bug in BUGS:
        fig = Figure()
        draw(fig, bug)
        assert len(fig.axes) == 2
    fig = Figure()
    draw(fig, "typo")
    assert "選んでください" in message_on(fig)
