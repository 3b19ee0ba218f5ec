"""Checks of chapter 12's exercises: writing images into the train / val folder layout that
``ImageFolder`` reads, the chapter's training and test transforms for any image size, and the
accuracy of each class.

12.1 writes a few real images (scikit-learn's digits) into a temporary folder and reads them
back with ``datasets.ImageFolder``; 12.2 runs the transforms on PIL images of several sizes with
fixed seeds, so even the random training transform is compared exactly.
"""

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import datasets, transforms

from pythonlibs.exercises import Wrong, exercise, expect_tensor

# ---------------------------------------------------------------------------------------------
# 12.1 An ImageFolder layout: root/train/<class>/..., root/val/<class>/...
# ---------------------------------------------------------------------------------------------

DIGITS_USED = (3, 8, 5)            # three digit classes, named below, in a non-alphabetical order
DIGIT_NAMES = ["three", "eight", "five"]


def _digits_table() -> np.ndarray:
    """scikit-learn's 1,797 real 8x8 digits (64 pixel values 0..16, then the label), read from the
    data file it ships, without importing scikit-learn (which takes seconds)."""
    package = Path(importlib.util.find_spec("sklearn").origin).parent
    return np.loadtxt(package / "datasets" / "data" / "digits.csv.gz", delimiter=",")


def _digit_images(per_class: int):
    """Real images (scikit-learn's digits, enlarged to 16x16 RGB) of three classes, interleaved."""
    table = _digits_table()
    targets = table[:, -1].astype(int)
    chosen = [np.flatnonzero(targets == d)[:per_class] for d in DIGITS_USED]
    order = [index for group in zip(*chosen) for index in group]   # 3, 8, 5, 3, 8, 5, ...
    images, labels = [], []
    for index in order:
        pixels = (table[index, :-1].reshape(8, 8) * (255 / 16)).round().astype(np.uint8)
        image = Image.fromarray(pixels).resize((16, 16), Image.NEAREST).convert("RGB")
        images.append(image)
        labels.append(DIGITS_USED.index(int(targets[index])))
    return images, labels


def _image_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in datasets.folder.IMG_EXTENSIONS)


def _read_split(root: Path, split: str) -> dict[str, list[Path]]:
    """{class folder name: image files} of ``root / split``."""
    folder = root / split
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise Wrong(f"フォルダ {split}/ がありません (root の中にあるもの: {found or 'なし'})。"
                    f"root / \"{split}\" / クラス名 / 画像ファイル の構成にしてください。")
    classes = {d.name: _image_files(d) for d in sorted(folder.iterdir()) if d.is_dir()}
    if not classes:
        raise Wrong(f"{split}/ の下にクラス名のフォルダがありません。{split}/ の下にクラスごとのフォルダを作り、"
                    "その中に画像を入れてください。")
    return classes


def _pixels(path: Path) -> bytes:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).tobytes()


def _expected(images, labels, n_val: int):
    """The pixel contents each split should hold, class by class (sorted)."""
    val = {name: [] for name in DIGIT_NAMES}
    train = {name: [] for name in DIGIT_NAMES}
    for image, label in zip(images, labels):
        name = DIGIT_NAMES[label]
        (val if len(val[name]) < n_val else train)[name].append(np.asarray(image).tobytes())
    return ({k: sorted(v) for k, v in train.items()}, {k: sorted(v) for k, v in val.items()})


def _check_folder_names(split: str, classes: dict) -> None:
    names = set(classes)
    if names <= {str(i) for i in range(len(DIGIT_NAMES))}:
        raise Wrong("クラスのフォルダ名がクラス番号 (0, 1, 2) になっています。フォルダ名はクラス名にしてください "
                    "(class_names[label])。ImageFolder はフォルダ名をそのままクラス名として使います。")
    if not names <= set(DIGIT_NAMES):
        raise Wrong(f"{split}/ の下のフォルダが {sorted(names)} です。class_names のクラス名 {DIGIT_NAMES} を"
                    "フォルダ名にしてください。")


@exercise("12.1", "画像を train / val のクラス別フォルダに保存する save_as_image_folder(root, images, labels, class_names, n_val)")
def check_save_as_image_folder(save_as_image_folder):
    images, labels = _digit_images(per_class=5)
    n_val = 2
    want_train, want_val = _expected(images, labels, n_val)
    with tempfile.TemporaryDirectory(prefix="ex12_1_") as tmp:
        root = Path(tmp) / "digits"
        save_as_image_folder(root, list(images), list(labels), list(DIGIT_NAMES), n_val)
        train, val = _read_split(root, "train"), _read_split(root, "val")
        _check_folder_names("train", train)
        _check_folder_names("val", val)
        suffixes = {f.suffix.lower() for files in (*train.values(), *val.values()) for f in files}
        if suffixes != {".png"}:
            raise Wrong(f"画像を {', '.join(sorted(suffixes)) or '(なし)'} で保存しています。劣化しない PNG (.png) で"
                        "保存してください (JPEG は画素の値が少し変わります)。")
        got_train = {name: sorted(_pixels(f) for f in train.get(name, [])) for name in DIGIT_NAMES}
        got_val = {name: sorted(_pixels(f) for f in val.get(name, [])) for name in DIGIT_NAMES}
        readable = set(train) == set(val) == set(DIGIT_NAMES) and all(got_train.values()) and all(got_val.values())
        folder = datasets.ImageFolder(root / "train") if readable else None
    if got_train == want_val and got_val == want_train:
        raise Wrong("train と val が逆です。各クラスの最初の n_val 枚を val (検証用) に、残りを train に入れてください。")
    shared = [name for name in DIGIT_NAMES if set(got_train[name]) & set(got_val[name])]
    if shared:
        raise Wrong(f"同じ画像が train と val の両方に入っています (クラス {', '.join(shared)})。"
                    "1 枚の画像はどちらか一方にだけ入れてください (両方にあると検証の意味がなくなります)。")
    val_counts = {name: len(got_val[name]) for name in DIGIT_NAMES}
    if set(val_counts.values()) != {n_val}:
        raise Wrong(f"val の枚数がクラスごとに {val_counts} です。各クラスから n_val = {n_val} 枚ずつを val にしてください "
                    "(全体で n_val 枚ではありません)。")
    for name in DIGIT_NAMES:
        if got_val[name] != want_val[name] or got_train[name] != want_train[name]:
            raise Wrong(f"クラス {name} の画像の振り分けが違います。images の順に見て、そのクラスの最初の n_val 枚を val に、"
                        "残りを train に入れてください。ラベルとクラス名の対応 (class_names[label]) も確かめてください。")
    if folder is None or folder.classes != sorted(DIGIT_NAMES):
        raise Wrong("ImageFolder で読めるフォルダになっていません。train と val の両方に、全クラスのフォルダを作ってください。")


# ---------------------------------------------------------------------------------------------
# 12.2 The chapter's transforms for a given size
# ---------------------------------------------------------------------------------------------

def _reference(size: int, erasing: bool = True, test_resize=None):
    steps = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
             transforms.ToTensor(), transforms.Normalize(0.5, 0.5)]
    if erasing:
        steps.append(transforms.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0))
    train = transforms.Compose(steps)
    test = transforms.Compose([transforms.Resize(test_resize or size * 8 // 7), transforms.CenterCrop(size),
                               transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    return train, test


def _pil_images(seed: int):
    """PIL images of different sizes and aspect ratios (wide and tall)."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in ((150, 110), (90, 170))]


def _apply(transform, image, seed: int):
    torch.manual_seed(seed)   # check_exercise restores the caller's random state afterwards
    return transform(image)


def _check_test_transform(test, size, images):
    _, want = _reference(size)
    outputs = [test(image) for image in images]
    for out in outputs:
        if not torch.is_tensor(out):
            raise Wrong(f"検証用 transform の結果がテンソルではありません ({type(out).__name__})。ToTensor() を入れてください。")
    shapes = {tuple(out.shape) for out in outputs}
    if shapes != {(3, size, size)}:
        if any(s[1] != s[2] for s in shapes):
            raise Wrong(f"検証用 transform の結果の形が {sorted(shapes)} で、正方形になっていません。Resize(int) は短い辺を"
                        f"そろえるだけなので、そのあとで CenterCrop(size) で中央の {size}×{size} を切り出してください。")
        raise Wrong(f"検証用 transform の結果の形が {sorted(shapes)} です。({3}, {size}, {size}) になるように、"
                    "224 などと決め打ちせず、引数 size を使ってください。")
    mistakes = [
        (transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(0.5, 0.5)]),
         "Resize((size, size)) で縦横を直接そろえると、縦横比が変わって (画像がつぶれて) しまいます。"
         "Resize(size * 8 // 7) で短い辺をそろえてから CenterCrop(size) で切り出してください。"),
        (_reference(size, test_resize=256)[1], "Resize の大きさを 256 と決め打ちしています。size * 8 // 7 "
         "(size = 224 のときに 256) にしてください。"),
        (_reference(size, test_resize=size)[1], "Resize(size) で短い辺を size にしてから切り出しています。この章と同じく、"
         "少し大きめの Resize(size * 8 // 7) にしてから CenterCrop(size) で中央を切り出してください。"),
        (transforms.Compose([transforms.Resize(size * 8 // 7), transforms.CenterCrop(size), transforms.ToTensor()]),
         "Normalize(0.5, 0.5) を忘れています (値が 0〜1 のまま)。学習済みモデルに合わせて -1〜1 にしてください。"),
    ]
    for out, image in zip(outputs, images):
        if torch.allclose(out, want(image), atol=1e-6):
            continue
        for transform, hint in mistakes:
            if torch.allclose(out, transform(image), atol=1e-6):
                raise Wrong(hint)
        raise Wrong("検証用 transform の結果が違います。Resize(size * 8 // 7)、CenterCrop(size)、ToTensor()、"
                    "Normalize(0.5, 0.5) の順にしてください (ランダムな変換は入れません)。")


def _check_train_transform(train, size, images):
    want, _ = _reference(size)
    no_erasing, _ = _reference(size, erasing=False)
    seeds = (1201, 1202, 1203, 1204)
    outputs = [(_apply(train, image, seed), image, seed) for image in images for seed in seeds]
    if not all(torch.is_tensor(out) for out, _, _ in outputs):
        raise Wrong("訓練用 transform の結果がテンソルではありません。ToTensor() を入れてください。")
    shapes = {tuple(out.shape) for out, _, _ in outputs}
    if shapes != {(3, size, size)}:
        raise Wrong(f"訓練用 transform の結果の形が {sorted(shapes)} です。"
                    f"RandomResizedCrop(size) で ({3}, {size}, {size}) にそろえ、ToTensor() でテンソルにしてください。")
    first, image, _ = outputs[0]
    if torch.allclose(first, _apply(train, image, 999), atol=1e-6) and \
            torch.allclose(first, _apply(train, image, 998), atol=1e-6):
        raise Wrong("訓練用 transform が毎回同じ結果を返します。データ拡張のためのランダムな変換 "
                    "(RandomResizedCrop, RandomHorizontalFlip, RandomErasing) を入れてください。")
    for out, image, seed in outputs:
        if torch.allclose(out, _apply(want, image, seed), atol=1e-6):
            continue
        if torch.allclose(out, _apply(no_erasing, image, seed), atol=1e-6):
            raise Wrong("訓練用 transform に RandomErasing がありません。本書と同じく、Normalize の後に "
                        "RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0) を入れてください。")
        raise Wrong("訓練用 transform の結果が違います。RandomResizedCrop(size)、RandomHorizontalFlip()、ToTensor()、"
                    "Normalize(0.5, 0.5)、RandomErasing(...) を、この順番・この引数で並べてください "
                    "(ランダムな変換は順番が違うと結果も変わります)。")


@exercise("12.2", "画像の大きさ size 用の訓練用・検証用 transform make_transforms(size)")
def check_make_transforms(make_transforms):
    size = 96
    answer = make_transforms(size)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("(訓練用 transform, 検証用 transform) の 2 つを tuple で返してください "
                    "(例: return train_transform, test_transform)。")
    train, test = answer
    images = _pil_images(122)
    _check_test_transform(test, size, images)
    _check_train_transform(train, size, images)


# ---------------------------------------------------------------------------------------------
# 12.3 Accuracy of each class
# ---------------------------------------------------------------------------------------------

@exercise("12.3", "クラスごとの正解率 per_class_accuracy(preds, labels, n_classes)")
def check_per_class_accuracy(per_class_accuracy):
    generator = torch.Generator().manual_seed(123)
    n_classes = 4
    labels = torch.cat([torch.arange(n_classes), torch.randint(0, n_classes, (26,), generator=generator)])
    labels = labels[torch.randperm(len(labels), generator=generator)]
    preds = torch.where(torch.rand(len(labels), generator=generator) < 0.6, labels,
                        torch.randint(0, n_classes, (len(labels),), generator=generator))
    right = (preds == labels).float()
    per_label = torch.stack([(labels == c).sum() for c in range(n_classes)]).float()
    per_pred = torch.stack([(preds == c).sum() for c in range(n_classes)]).float()
    correct = torch.stack([right[labels == c].sum() for c in range(n_classes)])
    want = correct / per_label
    answer = per_class_accuracy(preds.clone(), labels.clone(), n_classes)
    if not torch.is_tensor(answer):
        answer = torch.as_tensor(np.asarray(answer, dtype=np.float64))
    if answer.shape == want.shape:
        got = answer.double()
        if torch.allclose(got, correct.double()):
            raise Wrong("正解した「枚数」を返しています。そのクラスの枚数で割って、割合にしてください。")
        if torch.allclose(got, torch.full_like(got, right.mean().item())):
            raise Wrong("全体の正解率をすべてのクラスに入れています。クラスごとに、正解ラベルがそのクラスの画像だけで計算してください。")
        if torch.allclose(got, (correct / per_pred.clamp(min=1)).double()):
            raise Wrong("「そのクラスと予測した枚数」で割っています (それは適合率 precision)。割るのは「正解ラベルが"
                        "そのクラスの枚数」です: (labels == c) の数。")
        if torch.allclose(got, (correct / len(labels)).double()):
            raise Wrong("全体の枚数で割っています。割るのは「正解ラベルがそのクラスの枚数」です。")
        if not torch.is_floating_point(answer):
            raise Wrong("答えが整数のテンソルです。正解数と枚数を .float() にしてから割ってください。")
    expect_tensor(answer, want.to(answer.dtype if torch.is_floating_point(answer) else want.dtype),
                  "クラスごとの正解率")
