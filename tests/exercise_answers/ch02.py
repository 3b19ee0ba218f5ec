"""Wrong answers to chapter 2's exercises, each with the hint its check must give."""

import torch


def flatten_everything(images):
    return images.view(-1)


def flatten_784(images):
    return images.view(-1, 784)


def flatten_transposed(images):
    return images.view(len(images), -1).T


def predict_by_column(outputs):
    return torch.max(outputs, 0)[1]


def predict_the_values(outputs):
    return torch.max(outputs, 1)[0]


def predict_one(outputs):
    return outputs.argmax()


def standardize_rows(x):
    return (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True)


def standardize_rows_unbroadcastable(x):
    return (x - x.mean(dim=1)) / x.std(dim=1)


def standardize_all(x):
    return (x - x.mean()) / x.std()


def standardize_without_std(x):
    return x - x.mean(dim=0)


def standardize_in_place(x):
    x -= x.mean(dim=0)
    x /= x.std(dim=0)
    return x


def derivative_without_requires_grad(f, x_np):
    x = torch.tensor(x_np, dtype=torch.float32)
    y = f(x)
    y.sum().backward()
    return x.grad


def derivative_without_sum(f, x_np):
    x = torch.tensor(x_np, requires_grad=True, dtype=torch.float32)
    f(x).backward()
    return x.grad


def derivative_with_mean(f, x_np):
    x = torch.tensor(x_np, requires_grad=True, dtype=torch.float32)
    f(x).mean().backward()
    return x.grad


def derivative_returns_y(f, x_np):
    x = torch.tensor(x_np, requires_grad=True, dtype=torch.float32)
    y = f(x)
    y.sum().backward()
    return y


WRONG = {
    "2.1": [(flatten_everything, "全部を 1 列"), (flatten_784, "決め打ち"), (flatten_transposed, "軸が逆")],
    "2.2": [(predict_by_column, "dim=0"), (predict_the_values, "最大「値」"), (predict_one, "全要素")],
    "2.3": [(standardize_rows, "行ごと"), (standardize_rows_unbroadcastable, "ブロードキャスト"),
            (standardize_all, "全要素"), (standardize_without_std, "標準偏差 x.std(dim=0) で割"),
            (standardize_in_place, "書き換えています")],
    "2.4": [(derivative_without_requires_grad, "requires_grad=True"), (derivative_without_sum, "sum()"),
            (derivative_with_mean, "mean()"), (derivative_returns_y, "関数の値")],
}
