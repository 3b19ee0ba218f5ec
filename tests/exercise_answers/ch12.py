"""Wrong answers to chapter 12's exercises, each with the hint its check must give."""

from pathlib import Path

import torch
from torchvision import transforms


def _save(root, images, labels, class_names, in_val, folder_name=None, suffix=".png"):
    for i, (image, label) in enumerate(zip(images, labels)):
        split = "val" if in_val(i, label) else "train"
        folder = Path(root) / split / (folder_name(label) if folder_name else class_names[label])
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:04d}{suffix}")


def _first_per_class(labels, n_val):
    seen, chosen = {}, set()
    for i, label in enumerate(labels):
        if seen.get(label, 0) < n_val:
            chosen.add(i)
            seen[label] = seen.get(label, 0) + 1
    return chosen


def save_swapped(root, images, labels, class_names, n_val):
    first = _first_per_class(labels, n_val)
    _save(root, images, labels, class_names, lambda i, label: i not in first)


def save_numbers_as_folders(root, images, labels, class_names, n_val):
    first = _first_per_class(labels, n_val)
    _save(root, images, labels, class_names, lambda i, label: i in first, folder_name=str)


def save_n_val_in_total(root, images, labels, class_names, n_val):
    _save(root, images, labels, class_names, lambda i, label: i < n_val)


def save_as_jpeg(root, images, labels, class_names, n_val):
    first = _first_per_class(labels, n_val)
    _save(root, images, labels, class_names, lambda i, label: i in first, suffix=".jpg")


def save_val_also_in_train(root, images, labels, class_names, n_val):
    first = _first_per_class(labels, n_val)
    _save(root, images, labels, class_names, lambda i, label: i in first)
    _save(root, [images[i] for i in sorted(first)], [labels[i] for i in sorted(first)], class_names,
          lambda i, label: False)


def _train(size, erasing=True):
    steps = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
             transforms.Normalize(0.5, 0.5)]
    return transforms.Compose(steps + ([transforms.RandomErasing()] if erasing else []))


def _test(resize, size, normalize=True):
    steps = [transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor()]
    return transforms.Compose(steps + ([transforms.Normalize(0.5, 0.5)] if normalize else []))


def transforms_squashed(size):
    return _train(size), transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                             transforms.Normalize(0.5, 0.5)])


def transforms_resize_256(size):
    return _train(size), _test(256, size)


def transforms_without_crop(size):
    return _train(size), transforms.Compose([transforms.Resize(size), transforms.ToTensor(),
                                             transforms.Normalize(0.5, 0.5)])


def transforms_without_normalize(size):
    return _train(size), _test(size * 8 // 7, size, normalize=False)


def transforms_without_erasing(size):
    return _train(size, erasing=False), _test(size * 8 // 7, size)


def transforms_train_is_test(size):
    return _test(size * 8 // 7, size), _test(size * 8 // 7, size)


def transforms_fixed_224(size):
    return _train(224), _test(256, 224)


def accuracy_counts(preds, labels, n_classes):
    return torch.stack([((preds == labels) & (labels == c)).sum() for c in range(n_classes)]).float()


def accuracy_overall(preds, labels, n_classes):
    return torch.full((n_classes,), (preds == labels).float().mean().item())


def accuracy_precision(preds, labels, n_classes):
    return torch.stack([((preds == labels) & (preds == c)).sum() / (preds == c).sum().clamp(min=1)
                        for c in range(n_classes)]).float()


def accuracy_integer_division(preds, labels, n_classes):
    return torch.stack([((preds == labels) & (labels == c)).sum() // (labels == c).sum() for c in range(n_classes)])


WRONG = {
    "12.1": [(save_swapped, "逆です"), (save_numbers_as_folders, "クラス番号"), (save_n_val_in_total, "全体で n_val 枚"),
             (save_as_jpeg, "PNG"), (save_val_also_in_train, "両方に入って")],
    "12.2": [(transforms_squashed, "縦横比"), (transforms_resize_256, "256 と決め打ち"), (transforms_without_crop, "正方形"),
             (transforms_without_normalize, "Normalize(0.5, 0.5) を忘れて"), (transforms_without_erasing, "RandomErasing がありません"),
             (transforms_train_is_test, "毎回同じ"), (transforms_fixed_224, "決め打ちせず")],
    "12.3": [(accuracy_counts, "枚数"), (accuracy_overall, "全体の正解率"), (accuracy_precision, "precision"),
             (accuracy_integer_division, "整数")],
}
