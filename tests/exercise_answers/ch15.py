"""Wrong answers to chapter 15's exercises, each with the hint its check must give."""

import torch
import torch.nn.functional as F


# 15.1 crop_each(images, pad)

def _crop(padded, dy, dx, h, w):
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(len(padded))])


def crop_same_window_for_all(images, pad):
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2,))
    return padded[:, :, dy:dy + h, dx:dx + w]


def crop_without_cutting(images, pad):
    return F.pad(images, (pad, pad, pad, pad))


def crop_offsets_too_small(images, pad):
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    return _crop(padded, torch.randint(0, 2 * pad, (n,)), torch.randint(0, 2 * pad, (n,)), h, w)


def crop_reflect_padding(images, pad):
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    return _crop(padded, torch.randint(0, 2 * pad + 1, (n,)), torch.randint(0, 2 * pad + 1, (n,)), h, w)


def crop_from_shuffled_images(images, pad):
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))[torch.randperm(n)]
    return _crop(padded, torch.randint(0, 2 * pad + 1, (n,)), torch.randint(0, 2 * pad + 1, (n,)), h, w)


def crop_and_flip(images, pad):
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad)).flip(3)
    return _crop(padded, torch.randint(0, 2 * pad + 1, (n,)), torch.randint(0, 2 * pad + 1, (n,)), h, w)


# 15.2 onecycle_factor(step, total_steps, warmup_frac, start, end)

def onecycle_float_warmup(step, total_steps, warmup_frac=0.23, start=0.2, end=0.07):
    warmup = total_steps * warmup_frac
    if step < warmup:
        return start + (1 - start) * step / warmup
    return 1 + (end - 1) * (step - warmup) / (total_steps - warmup)


def onecycle_down_to_zero(step, total_steps, warmup_frac=0.23, start=0.2, end=0.07):
    warmup = int(total_steps * warmup_frac)
    if step < warmup:
        return start + (1 - start) * step / warmup
    return 1 - (step - warmup) / (total_steps - warmup)


def onecycle_down_over_all_steps(step, total_steps, warmup_frac=0.23, start=0.2, end=0.07):
    warmup = int(total_steps * warmup_frac)
    if step < warmup:
        return start + (1 - start) * step / warmup
    return 1 + (end - 1) * (step - warmup) / total_steps


def onecycle_as_tensor_list(step, total_steps, warmup_frac=0.23, start=0.2, end=0.07):
    return [start, end]


# 15.3 smooth_targets(labels, num_classes, eps)

def smooth_others_only(labels, num_classes, eps):
    one_hot = F.one_hot(labels, num_classes).float()
    return (1 - eps) * one_hot + (1 - one_hot) * eps / (num_classes - 1)


def smooth_without_shrinking(labels, num_classes, eps):
    return F.one_hot(labels, num_classes).float() + eps / num_classes


def smooth_transposed(labels, num_classes, eps):
    return ((1 - eps) * F.one_hot(labels, num_classes).float() + eps / num_classes).T


# 15.4 tta_mirror_logits(model, images)

def tta_in_train_mode(model, images):
    with torch.no_grad():
        return 0.5 * (model(images) + model(images.flip(3)))


def tta_upside_down(model, images):
    model.eval()
    with torch.no_grad():
        return 0.5 * (model(images) + model(images.flip(2)))


def tta_probabilities(model, images):
    model.eval()
    with torch.no_grad():
        return 0.5 * (model(images).softmax(1) + model(images.flip(3)).softmax(1))


def tta_sum(model, images):
    model.eval()
    with torch.no_grad():
        return model(images) + model(images.flip(3))


def tta_without_no_grad(model, images):
    model.eval()
    return 0.5 * (model(images) + model(images.flip(3)))


def tta_no_mirror(model, images):
    model.eval()
    with torch.no_grad():
        return model(images)


WRONG = {
    "15.1": [(crop_same_window_for_all, "同じ位置"), (crop_without_cutting, "切り抜いていません"),
             (crop_offsets_too_small, "2 * pad + 1"), (crop_reflect_padding, "反射パディング"),
             (crop_from_shuffled_images, "別の画像"), (crop_and_flip, "左右反転")],
    "15.2": [(onecycle_float_warmup, "int()"), (onecycle_down_to_zero, "0 まで下げて"),
             (onecycle_down_over_all_steps, "total_steps - warmup"), (onecycle_as_tensor_list, "数 (float)")],
    "15.3": [(smooth_others_only, "ε/K"), (smooth_without_shrinking, "(1 - ε)"),
             (smooth_transposed, "(クラス数, 件数)")],
    "15.4": [(tta_in_train_mode, "model.eval()"), (tta_upside_down, "上下"), (tta_probabilities, "softmax"),
             (tta_sum, "2 で割って"), (tta_without_no_grad, "torch.no_grad()"), (tta_no_mirror, "元の画像の予測だけ")],
}
