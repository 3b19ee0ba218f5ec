"""The explorables of chapters 9-12 (pythonlibs.interactive.images) on the chapters' real images,
with the values a learner would choose, extreme ones and nonsense."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torchvision import transforms

from pythonlibs.interactive import images as iv
from pythonlibs.interactive import message_on
from pythonlibs.settings import mirror_dir

MIRROR = mirror_dir()


def need_mirror():
    """The real data comes from the offline mirror here (CI sets it); tests without data still run."""
    if MIRROR is None or not MIRROR.is_dir():
        pytest.skip("DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")


@pytest.fixture(scope="module")
def views():
    need_mirror()
    return iv.benchmark_views()


@pytest.fixture(scope="module")
def digit():
    """The first 5 of the MNIST training set, (28, 28) in [0, 1], as chapter 9 takes it."""
    need_mirror()
    from pythonlibs.datasets import load_mnist
    mnist = load_mnist(train=True, transform=transforms.ToTensor())
    return mnist[int(np.flatnonzero(np.asarray(mnist.targets) == 5)[0])][0][0].numpy()


@pytest.fixture(scope="module")
def cifar():
    """Ten real CIFAR-10 training images (one per class), normalised as in chapter 10."""
    need_mirror()
    from pythonlibs.data import quick_subset
    from pythonlibs.datasets import load_cifar10
    normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    data = quick_subset(load_cifar10(train=True, transform=normalize), per_class=50)
    first = [int(np.flatnonzero(np.asarray(data.targets) == c)[0]) for c in range(10)]
    return torch.stack([data[i][0] for i in first])


@pytest.fixture(scope="module")
def photo():
    need_mirror()
    from pythonlibs.datasets import load_hymenoptera
    return load_hymenoptera(train=True, quick_per_class=3)[0][0]


# --- chapter 9: the kernel --------------------------------------------------------------------

def test_presets_parse_to_the_chapters_kernels():
    vertical = iv.parse_kernel(iv.KERNEL_CHOICES[0])
    assert np.array_equal(vertical, np.array([[-1, 0, 1]] * 3, dtype=np.float32))
    assert np.array_equal(iv.parse_kernel(iv.KERNEL_PRESETS["横のエッジ"]), vertical.T)
    assert np.array_equal(iv.parse_kernel("0 0 1; 0 1 0; 1 0 0"), np.fliplr(np.eye(3)))
    assert iv.parse_kernel(iv.KERNEL_PRESETS["ぼかし (平均)"]).sum() == pytest.approx(1.0)
    assert iv.parse_kernel("1,2,3,4,5,6,7,8,-9.5")[2, 2] == -9.5


@pytest.mark.parametrize("text, hint", [("1 2 3", "9 個"), ("1 2 3 4 5 6 7 8 9 10", "10 個"), ("", "0 個"),
                                        ("a b c d e f g h i", "数として読めません"), ("1/0 0 0 0 0 0 0 0 0", "0 で割"),
                                        ("1e400 0 0 0 0 0 0 0 0", "大きすぎ"), (None, "文字列")])
def test_a_kernel_that_is_not_nine_numbers_gets_a_japanese_message(text, hint):
    with pytest.raises(ValueError, match=hint):
        iv.parse_kernel(text)


def test_the_vertical_edge_kernel_on_the_real_digit_is_the_sum_of_window_differences(digit):
    out = iv.convolve_image(digit, iv.parse_kernel(iv.KERNEL_CHOICES[0]))
    by_hand = np.array([[(digit[i:i + 3, j + 2] - digit[i:i + 3, j]).sum() for j in range(26)] for i in range(26)])
    assert out.shape == (26, 26) and np.allclose(out, by_hand, atol=1e-5)
    assert out.min() < -1 and out.max() > 1, "the digit's strokes have left and right edges"


@pytest.mark.parametrize("padding, stride, size", [(0, 1, 26), (1, 1, 28), (0, 2, 13), (1, 2, 14), (3, 3, 11),
                                                   (20, 1, 66)])
def test_output_size_follows_the_formula_and_nn_conv2d(digit, padding, stride, size):
    out = iv.convolve_image(digit, np.ones((3, 3)), padding, stride)
    conv = nn.Conv2d(1, 1, 3, padding=padding, stride=stride)
    assert out.shape == (size, size) == tuple(conv(torch.zeros(1, 1, 28, 28)).shape[-2:])
    assert iv.conv_output_length(28, 3, padding, stride) == size


def test_identity_kernel_with_padding_1_gives_the_digit_back(digit):
    out = iv.convolve_image(digit, iv.parse_kernel(iv.KERNEL_PRESETS["何もしない (恒等)"]), padding=1)
    assert np.allclose(out, digit)


@pytest.mark.parametrize("padding, stride, hint", [(-1, 1, "パディング"), (1.5, 1, "パディング"), (0, 0, "ストライド"),
                                                   (0, -2, "ストライド")])
def test_impossible_padding_or_stride_gets_a_japanese_message(digit, padding, stride, hint):
    with pytest.raises(ValueError, match=hint):
        iv.convolve_image(digit, np.ones((3, 3)), padding, stride)
    with pytest.raises(ValueError, match="窓が 1 つも"):
        iv.conv_output_length(2, 3, 0, 1)


# --- chapter 10: dropout and augmentation -----------------------------------------------------

def pixels(cifar):
    return (cifar * 0.5 + 0.5).clamp(0, 1)


def test_dropout_zeroes_a_share_p_and_keeps_the_mean(cifar):
    x = pixels(cifar)
    result = iv.dropout_images(x, 0.5)
    out = result["output"]
    kept = out != 0
    assert torch.allclose(out[kept], 2 * x[kept]), "survivors are scaled by 1/(1-p) = 2"
    assert abs(result["zero_rate"] - 0.5) < 0.02 and result["scale"] == 2
    assert abs(result["mean_out"] / result["mean_in"] - 1) < 0.02


def test_dropout_extremes_p_0_and_p_1(cifar):
    x = pixels(cifar)
    nothing = iv.dropout_images(x, 0.0)
    assert torch.equal(nothing["output"], x) and nothing["zero_rate"] == 0
    everything = iv.dropout_images(x, 1.0)
    assert torch.count_nonzero(everything["output"]) == 0 and everything["zero_rate"] == 1
    assert everything["scale"] is None and everything["mean_out"] == 0


def test_dropout_is_repeatable_and_leaves_the_global_random_state_alone(cifar):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = iv.dropout_images(pixels(cifar), 0.3)["output"]
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(iv.dropout_images(pixels(cifar), 0.3)["output"], first)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", float("nan")])
def test_dropout_probability_outside_0_1_gets_a_japanese_message(cifar, p):
    with pytest.raises(ValueError, match="確率"):
        iv.dropout_images(pixels(cifar), p)


def test_no_augmentation_leaves_the_images_and_flip_1_mirrors_them(cifar):
    same = iv.augment_images(cifar, flip_p=0, erase_p=0, erase_max=0.33, crop_padding=0)
    assert same.shape == (2, 10, 3, 32, 32) and torch.equal(same[0], cifar) and torch.equal(same[1], cifar)
    flipped = iv.augment_images(cifar, flip_p=1, erase_p=0)
    assert torch.equal(flipped[0], cifar.flip(-1))


@pytest.mark.parametrize("erase_max", [0.02, 0.33, 1.0])
def test_erasing_covers_at_most_the_largest_area(cifar, erase_max):
    out = iv.augment_images(cifar, flip_p=0, erase_p=1, erase_max=erase_max, draws=3)
    erased = ((out == 0) & (cifar != 0)).all(dim=2).float().mean(dim=(2, 3))   # share of pixels set to 0
    assert erased.max() <= erase_max + 0.03
    if erase_max < 1:   # an area of 100 % fits only rarely: torchvision then leaves the image
        assert (erased > 0).float().mean() > 0.9


def test_random_crop_padding_shifts_the_image_inside_a_grey_border(cifar):
    out = iv.augment_images(cifar, flip_p=0, erase_p=0, crop_padding=4, draws=1)[0]
    padded = F.pad(cifar, (4, 4, 4, 4))
    for original, shifted in zip(padded, out):
        assert any(torch.equal(original[:, t:t + 32, s:s + 32], shifted) for t in range(9) for s in range(9))
    assert not torch.equal(out, cifar)


@pytest.mark.parametrize("values, hint", [({"flip_p": 2}, "左右反転"), ({"erase_p": -1}, "RandomErasing"),
                                          ({"erase_max": 0}, "面積"), ({"erase_max": 1.5}, "面積"),
                                          ({"crop_padding": 32}, "padding"), ({"crop_padding": 2.5}, "padding")])
def test_impossible_augmentation_values_get_a_japanese_message(cifar, values, hint):
    with pytest.raises(ValueError, match=hint):
        iv.augment_images(cifar, **values)


# --- chapter 11: AdaptiveAvgPool2d ------------------------------------------------------------

def test_windows_follow_pytorchs_rule():
    assert iv.adaptive_windows(112, 7) == [(16 * i, 16 * i + 16) for i in range(7)]
    assert iv.adaptive_windows(5, 3) == [(0, 2), (1, 4), (3, 5)]    # overlapping windows
    assert iv.adaptive_windows(3, 6) == [(0, 1), (0, 1), (1, 2), (1, 2), (2, 3), (2, 3)]


@pytest.mark.parametrize("in_size, out_size", [(112, 7), (57, 7), (32, 1), (3, 16), (7, 7)])
def test_pooling_a_real_image_is_the_mean_of_each_window(cifar, in_size, out_size):
    resized, pooled = iv.adaptive_pool_image(cifar[0], in_size, out_size)
    assert resized.shape == (3, in_size, in_size) and pooled.shape == (3, out_size, out_size)
    windows = iv.adaptive_windows(in_size, out_size)
    by_hand = torch.stack([torch.stack([resized[:, r0:r1, c0:c1].mean(dim=(1, 2)) for c0, c1 in windows], dim=-1)
                           for r0, r1 in windows], dim=1)   # (3, rows, columns)
    assert torch.allclose(pooled, by_hand, atol=1e-5)


@pytest.mark.parametrize("in_size, out_size", [(0, 7), (112, 0), (-3, 2), (112, 2.5)])
def test_impossible_sizes_get_a_japanese_message(cifar, in_size, out_size):
    with pytest.raises(ValueError, match="1 以上の整数"):
        iv.adaptive_pool_image(cifar[0], in_size, out_size)


# --- chapter 12: RandomResizedCrop ------------------------------------------------------------

@pytest.mark.parametrize("scale, ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 0.6), (1.0, 1.0)),
                                          ((0.01, 0.05), (0.2, 5.0))])
def test_crops_have_the_asked_area_and_ratio(photo, scale, ratio):
    width, height = photo.size
    crops = iv.random_resized_crops(photo, scale, ratio, n=8)
    for (top, left, h, w), crop in crops:
        assert crop.size == (224, 224)
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        assert scale[0] - 0.01 <= h * w / (width * height) <= scale[1] + 0.01
        assert ratio[0] * 0.9 <= w / h <= ratio[1] * 1.1


def test_a_crop_that_cannot_fit_falls_back_to_the_centre(photo):
    """The whole photo (scale 1) as a square (ratio 1) does not fit a 500x375 photo: torchvision's fallback."""
    width, height = photo.size
    box, _ = iv.random_resized_crops(photo, (1.0, 1.0), (1.0, 1.0), n=1)[0]
    side = min(width, height)
    assert box == ((height - side) // 2, (width - side) // 2, side, side)


def test_crops_are_repeatable(photo):
    first = [box for box, _ in iv.random_resized_crops(photo, n=4)]
    assert first == [box for box, _ in iv.random_resized_crops(photo, n=4)]
    assert len(set(first)) == 4


@pytest.mark.parametrize("scale, ratio, hint", [((0, 1), (0.75, 1.33), "scale"), ((0.5, 0.2), (0.75, 1.33), "scale"),
                                                ((0.1, 2.0), (0.75, 1.33), "scale"), ("abc", (0.75, 1.33), "scale"),
                                                ((0.1, 1.0), (-1, 2), "ratio"), ((0.1, 1.0), (1, float("inf")), "ratio")])
def test_impossible_scale_or_ratio_gets_a_japanese_message(photo, scale, ratio, hint):
    with pytest.raises(ValueError, match=hint):
        iv.random_resized_crops(photo, scale, ratio)


# --- every view draws ---------------------------------------------------------------------------

def test_every_view_draws_for_every_listed_value(views):
    assert set(views) == {"ch09 kernel", "ch10 dropout", "ch10 augmentation", "ch11 adaptive pool",
                          "ch12 resized crop"}
    for name, (draw, values) in views.items():
        assert 3 <= len(values) <= 5, name
        for value in values:
            fig = Figure()
            draw(fig, **value)
            drawn = any(ax.images for ax in fig.axes) or message_on(fig)
            assert drawn, f"{name} drew nothing for {value}"
            fig.savefig(__import__("io").BytesIO(), format="png", dpi=40)


def test_a_view_shows_the_message_instead_of_raising(views):
    draw = views["ch09 kernel"][0]
    fig = Figure()
    draw(fig, kernel="1 2 3", padding=0, stride=1)
    assert "9 個" in message_on(fig), "the message, and no drawing"
    fig = Figure()
    views["ch10 dropout"][0](fig, p=1.2)
    assert "確率" in message_on(fig)


def test_the_default_kernel_view_titles_the_output_size(views):
    fig = Figure()
    views["ch09 kernel"][0](fig, **views["ch09 kernel"][1][1])   # blur, padding 3, stride 3
    titles = [ax.get_title() for ax in fig.axes]
    assert any(title.startswith("出力 11×11") for title in titles), titles
