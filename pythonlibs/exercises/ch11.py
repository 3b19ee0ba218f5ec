"""Checks of chapter 11's exercises: replacing the classifier head, freezing a backbone (its
BatchNorm layers included) for transfer learning, and counting the parameters that will train.

The checks use a tiny model built like torchvision's ResNet (conv1, bn1, relu, layer1, avgpool,
fc), so they run in milliseconds; the learner's code works unchanged on ``models.resnet18``.
"""

import torch
from torch import nn, optim

from pythonlibs.exercises import Wrong, exercise

IMAGENET_CLASSES = 1000
RESNET18_FEATURES = 512   # what a learner who copies ResNet-18's number would write


class TinyResNet(nn.Module):
    """A small model with ResNet's layout and names; its ``fc`` has 1,000 outputs like ImageNet's."""

    def __init__(self, n_features: int = 16, n_output: int = IMAGENET_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(8, n_features, 3, stride=2, padding=1, bias=False),
                                    nn.BatchNorm2d(n_features), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(n_features, n_output)

    def forward(self, x):
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def _tiny_net(seed: int, n_output: int = IMAGENET_CLASSES) -> TinyResNet:
    torch.manual_seed(seed)   # the caller's random stream is restored by check_exercise
    return TinyResNet(n_output=n_output)


def _images(seed: int, n: int = 6) -> torch.Tensor:
    return torch.randn(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed))


def _returned_net(answer, net):
    if answer is None:
        raise Wrong("何も返していません。付け替えた (固定した) あとのモデル net を return してください。")
    if not isinstance(answer, nn.Module):
        raise Wrong(f"返したものがモデル (nn.Module) ではありません ({type(answer).__name__})。net を return してください。")
    if answer is not net:
        raise Wrong("受け取った net とは別のモデルを返しています。新しいモデルを作らずに、受け取った net の層を"
                    "付け替えて (設定して) その net を返してください (学習済みの重みを捨てないため)。")
    return answer


@exercise("11.1", "最後の層を n_classes クラス用に付け替える replace_head(net, n_classes)")
def check_replace_head(replace_head):
    n_classes = 7
    net = _tiny_net(111)
    n_features = net.fc.in_features
    conv_before = net.conv1.weight.detach().clone()
    net = _returned_net(replace_head(net, n_classes), net)
    if not torch.equal(net.conv1.weight, conv_before):
        raise Wrong("最後の層より前の重みが変わっています。学習済みの部分はそのままにして、net.fc だけを付け替えてください。")
    if isinstance(net.fc, nn.Linear) and net.fc.weight.shape[0] == IMAGENET_CLASSES:
        raise Wrong("net.fc の重みの形が 1,000 クラス用のままです (net.fc.out_features を書き換えても重みの形は"
                    "変わりません)。net.fc = nn.Linear(net.fc.in_features, n_classes) と新しい層を代入してください。")
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if any(m.weight.shape[0] == IMAGENET_CLASSES for m in linears):
        raise Wrong("元の 1,000 クラス用の層を残したまま、後ろに層を足しています。足すのではなく、"
                    "net.fc そのものを新しい nn.Linear に置き換えてください。")
    if not isinstance(net.fc, nn.Linear):
        raise Wrong(f"net.fc が nn.Linear ではありません ({type(net.fc).__name__})。"
                    "net.fc = nn.Linear(入力の数, n_classes) としてください。")
    if net.fc.in_features == RESNET18_FEATURES and n_features != RESNET18_FEATURES:
        raise Wrong(f"入力の数を ResNet-18 の {RESNET18_FEATURES} と決め打ちしています。このモデルでは "
                    f"{n_features} です。付け替える前の net.fc.in_features を使ってください (どのモデルでも正しくなります)。")
    if net.fc.in_features != n_features:
        raise Wrong(f"新しい層の入力の数が {net.fc.in_features} です。付け替える前の net.fc.in_features "
                    f"(このモデルでは {n_features}) を使ってください。")
    net.eval()
    with torch.no_grad():
        outputs = net(_images(112, 3))
    if outputs.shape[1] == 10 and n_classes != 10:
        raise Wrong(f"出力が 10 クラスです。クラス数を 10 (CIFAR-10) と決め打ちせず、引数 n_classes "
                    f"(このチェックでは {n_classes}) を使ってください。")
    if tuple(outputs.shape) != (3, n_classes):
        raise Wrong(f"3 枚の画像を入れたときの出力の形が {tuple(outputs.shape)} です。(3, {n_classes}) になるように、"
                    "出力の数 n_classes の nn.Linear にしてください。")
    if not all(p.requires_grad for p in net.fc.parameters()):
        raise Wrong("新しい層のパラメータが requires_grad=False になっています。新しい層は学習させる層です。")


def _trainable_names(net):
    return [name for name, p in net.named_parameters() if p.requires_grad]


def _one_step_changes(net, seed: int):
    """After one SGD step on the trainable parameters: what changed, by name."""
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = optim.SGD(trainable, lr=0.5)
    labels = torch.randint(0, net.fc.out_features, (6,), generator=torch.Generator().manual_seed(seed))
    loss = nn.functional.cross_entropy(net(_images(seed)), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return sorted(k for k, v in net.state_dict().items()
                  if v.dtype.is_floating_point and not torch.equal(v, before[k]))


@exercise("11.2", "バックボーンを固定する (BatchNorm も) freeze_backbone(net)")
def check_freeze_backbone(freeze_backbone):
    net = _tiny_net(113, n_output=3)
    net.train()
    net = _returned_net(freeze_backbone(net), net)
    trainable = _trainable_names(net)
    if not trainable:
        raise Wrong("新しい層 fc まで固定しています (学習するパラメータが 1 つもありません)。fc 以外のパラメータだけを "
                    "requires_grad = False にしてください (すべて固定してから net.fc.requires_grad_(True) でも構いません)。")
    if trainable != ["fc.weight", "fc.bias"]:
        others = [name for name in trainable if not name.startswith("fc.")]
        if others:
            raise Wrong(f"固定されていないパラメータが残っています: {', '.join(others)}。畳み込み層だけでなく、"
                        "BatchNorm の weight / bias も含めて、net.parameters() のすべて (fc 以外) を固定してください。")
        raise Wrong(f"fc のパラメータの一部が固定されています (学習するのは {', '.join(trainable)} だけ)。"
                    "fc.weight と fc.bias の両方を学習させてください。")
    if not net.training:
        raise Wrong("モデル全体を eval() にしています。それだと fc の前のドロップアウトも止まってしまいます。"
                    "モデルは訓練モードのまま、BatchNorm の層だけを eval() にしてください。")
    still_training = [name for name, m in net.named_modules()
                      if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if still_training:
        raise Wrong(f"BatchNorm の層 ({', '.join(still_training)}) が訓練モードのままです。requires_grad = False で止まるのは"
                    "勾配による更新だけで、running_mean / running_var は訓練モードで通したデータから更新され続けます。"
                    "net.modules() の中の nn.BatchNorm2d に .eval() を呼んでください。")
    if not net.dropout.training:
        raise Wrong("ドロップアウトまで eval モードにしています。eval() にするのは BatchNorm の層だけです。")
    changed = _one_step_changes(net, 114)
    if changed != ["fc.bias", "fc.weight"]:
        raise Wrong(f"1 回学習すると {', '.join(changed) or '何も'} が変わりました。変わってよいのは fc.weight と "
                    "fc.bias だけです。固定のしかたを確かめてください。")


def _as_count(value, name):
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise Wrong(f"{name}は整数 (int) で返してください (あなたの答えは {type(value).__name__})。"
                    "sum(p.numel() for p in ...) は int になります。")
    return value


@exercise("11.3", "学習するパラメータ数と全体の数 count_parameters(net)")
def check_count_parameters(count_parameters):
    net = _tiny_net(115, n_output=5)
    for param in net.parameters():
        param.requires_grad = False
    net.fc.requires_grad_(True)
    net.bn1.weight.requires_grad_(True)   # an unusual mix, so that only requires_grad tells
    answer = count_parameters(net)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("(学習するパラメータ数, 全体のパラメータ数) の 2 つを tuple で返してください "
                    "(例: return n_trainable, n_total)。")
    got_trainable, got_total = (_as_count(v, n) for v, n in zip(answer, ("学習するパラメータ数", "全体のパラメータ数")))
    params = list(net.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    if (got_trainable, got_total) == (total, trainable):
        raise Wrong("2 つの順番が逆です。(学習するパラメータ数, 全体のパラメータ数) の順に返してください。")
    if got_total == len(params) or got_trainable == sum(1 for p in params if p.requires_grad):
        raise Wrong("パラメータの「テンソルの数」を数えています。数えるのは要素の数です: p.numel() を足してください。")
    if got_trainable == total and got_total == total:
        raise Wrong("学習するパラメータ数が全体と同じです。p.requires_grad が True のものだけを数えてください。")
    if got_total != total:
        raise Wrong(f"全体のパラメータ数が違います: 正しくは {total:,}、あなたの答えは {got_total:,}。"
                    "net.parameters() のすべての p.numel() を足してください。")
    if got_trainable != trainable:
        raise Wrong(f"学習するパラメータ数が違います: 正しくは {trainable:,}、あなたの答えは {got_trainable:,}。"
                    "fc だけでなく、requires_grad が True のパラメータをすべて数えてください。")
