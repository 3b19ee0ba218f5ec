"""Wrong answers to chapter 9's exercises, each with the hint its check must give."""

import math

from torch import nn


def size_without_padding(size, kernel_size, padding=0, stride=1):
    return (size - kernel_size) // stride + 1


def size_with_one_padding(size, kernel_size, padding=0, stride=1):
    return (size + padding - kernel_size) // stride + 1


def size_without_stride(size, kernel_size, padding=0, stride=1):
    return size + 2 * padding - kernel_size + 1


def size_without_plus_one(size, kernel_size, padding=0, stride=1):
    return (size + 2 * padding - kernel_size) // stride


def size_rounded_up(size, kernel_size, padding=0, stride=1):
    return math.ceil((size + 2 * padding - kernel_size) / stride) + 1


def size_as_float(size, kernel_size, padding=0, stride=1):
    return (size + 2 * padding - kernel_size) / stride + 1


def parameters_without_bias(in_channels, out_channels, kernel_size):
    return out_channels * in_channels * kernel_size * kernel_size


def parameters_without_in_channels(in_channels, out_channels, kernel_size):
    return out_channels * kernel_size * kernel_size + out_channels


def parameters_kernel_not_squared(in_channels, out_channels, kernel_size):
    return out_channels * in_channels * kernel_size + out_channels


class SmallCNNWithoutPadding(nn.Module):
    """Computes the flatten size as if conv1 had no padding."""

    def __init__(self, n_channels, image_size, n_output):
        super().__init__()
        side = ((image_size - 2) // 2 - 2) // 2
        self.features = nn.Sequential(nn.Conv2d(n_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.l1 = nn.Linear(32 * side * side, n_output)

    def forward(self, x):
        return self.l1(self.features(x))


class SmallCNNWithoutChannels(nn.Module):
    """Forgets to multiply by the 32 channels."""

    def __init__(self, n_channels, image_size, n_output):
        super().__init__()
        side = (image_size // 2 - 2) // 2
        self.features = nn.Sequential(nn.Conv2d(n_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.l1 = nn.Linear(side * side, n_output)

    def forward(self, x):
        return self.l1(self.features(x))


class SmallCNNOnePool(nn.Module):
    """Counts only the first pooling."""

    def __init__(self, n_channels, image_size, n_output):
        super().__init__()
        side = image_size // 2 - 2
        self.features = nn.Sequential(nn.Conv2d(n_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.l1 = nn.Linear(32 * side * side, n_output)

    def forward(self, x):
        return self.l1(self.features(x))


class SmallCNNFixedSize(nn.Module):
    """Hard-codes the flatten size of one image size."""

    def __init__(self, n_channels, image_size, n_output):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(n_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.l1 = nn.Linear(512, n_output)

    def forward(self, x):
        return self.l1(self.features(x))


class SmallCNNReluAtTheEnd(nn.Module):
    """Passes the logits through a ReLU."""

    def __init__(self, n_channels, image_size, n_output):
        super().__init__()
        side = (image_size // 2 - 2) // 2
        self.features = nn.Sequential(nn.Conv2d(n_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.l1 = nn.Linear(32 * side * side, n_output)

    def forward(self, x):
        return self.l1(self.features(x)).relu()


WRONG = {
    "9.1": [(size_without_padding, "padding を足していません"), (size_with_one_padding, "1 回しか"),
            (size_without_stride, "stride で割っていません"), (size_without_plus_one, "+ 1 を忘れて"),
            (size_rounded_up, "切り上げ"), (size_as_float, "小数")],
    "9.2": [(parameters_without_bias, "バイアス"), (parameters_without_in_channels, "入力チャネル数"),
            (parameters_kernel_not_squared, "k × k")],
    "9.3": [(SmallCNNWithoutPadding, "padding=1"), (SmallCNNWithoutChannels, "チャネル数を掛けて"),
            (SmallCNNOnePool, "2 回目のプーリング"), (SmallCNNFixedSize, "flatten の大きさ"),
            (SmallCNNReluAtTheEnd, "ReLU")],
}
