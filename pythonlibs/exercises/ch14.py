"""Checks of chapter 14's exercises: freeze a backbone (BatchNorm included), per-layer learning
rates with parameter groups, and whether pretrained weights were really loaded."""

import torch
import torch.nn.functional as F
from torch import nn, optim

from pythonlibs.exercises import Wrong, exercise


class _TransferNet(nn.Module):
    """A tiny CNN like the chapter's: a backbone with BatchNorm, then a linear head."""

    def __init__(self, in_channels: int = 2, width: int = 4, n_classes: int = 3):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def _pretend_pretrained(net: nn.Module, generator: torch.Generator) -> None:
    """Give the BatchNorm layers statistics that a training run would have left (not 0 / 1)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.num_batches_tracked.fill_(100)


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def _as_parameter_list(answer, name: str) -> list:
    if answer is None:
        raise Wrong(f"{name} が何も返していません。オプティマイザに渡すパラメータのリストを return してください "
                    "(例: return [p for p in net.parameters() if p.requires_grad])。")
    try:
        params = list(answer)
    except TypeError:
        raise Wrong(f"{name} の戻り値がリストになっていません ({type(answer).__name__})。"
                    "パラメータ (テンソル) のリストを返してください。") from None
    if not all(isinstance(p, torch.Tensor) for p in params):
        raise Wrong(f"{name} の戻り値に、パラメータ (テンソル) でないものが入っています。"
                    "net.parameters() から取り出したパラメータのリストを返してください。")
    return params


@exercise("14.1", "特徴抽出器を正しく凍結する freeze_backbone(net)")
def check_freeze_backbone(freeze_backbone):
    generator = torch.Generator().manual_seed(1401)
    torch.manual_seed(1401)
    net = _TransferNet()
    _pretend_pretrained(net, generator)
    net.train()
    x, y = torch.randn(16, 2, 8, 8, generator=generator), torch.randint(0, 3, (16,), generator=generator)
    before = {k: v.clone() for k, v in net.state_dict().items()}

    params = _as_parameter_list(freeze_backbone(net), "freeze_backbone")
    head, backbone = list(net.head.parameters()), list(net.backbone.parameters())
    if not all(p.requires_grad for p in head):
        raise Wrong("出力層 (net.head) まで凍結しています。requires_grad=False にするのは net.backbone の"
                    "パラメータだけです (net.parameters() は出力層も含みます)。")
    if not _ids(head) <= _ids(params):
        raise Wrong("返したリストに出力層 (net.head) のパラメータが入っていません。これではオプティマイザが"
                    "何も学習しません。[p for p in net.parameters() if p.requires_grad] を返してください。")

    optimizer = optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(2):   # like a training loop after freezing (net.train() is not called again)
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    after = net.state_dict()

    moved = [k for k in before if k.startswith("backbone.") and "running" not in k
             and "num_batches" not in k and not torch.equal(after[k], before[k])]
    in_optimizer = _ids(backbone) & _ids(params)
    if moved and in_optimizer:
        raise Wrong(f"特徴抽出器の重み ({moved[0]} など) が動きました。特徴抽出器のパラメータがオプティマイザに入っていて、"
                    "勾配を 0 にしても weight decay と momentum が重みを動かします。requires_grad=False にして、"
                    "オプティマイザには requires_grad=True のパラメータだけを渡してください。")
    if moved:
        raise Wrong(f"特徴抽出器の重み ({moved[0]} など) が動きました。net.backbone のパラメータを "
                    "requires_grad=False にしてください。")
    stats_moved = [k for k in before if "running" in k and not torch.equal(after[k], before[k])]
    if stats_moved:
        raise Wrong(f"重みは止まりましたが、BatchNorm の統計 ({stats_moved[0]} など) が変わりました。"
                    "requires_grad=False で止まるのは勾配による更新だけです。net.backbone.eval() を忘れていませんか?")
    if in_optimizer:
        raise Wrong("返したリストに、凍結した特徴抽出器のパラメータが入っています。今は .grad が None なので動きませんが、"
                    "勾配を 0 にする凍結と組み合わせると weight decay や momentum で動きます。"
                    "requires_grad=True のものだけを返してください。")
    if any(p.requires_grad for p in backbone):
        raise Wrong("特徴抽出器の requires_grad が True のままです。オプティマイザに入れなければ重みは変わりませんが、"
                    "使わない勾配を毎回計算して、時間とメモリを無駄にします (14.2 節)。p.requires_grad = False にしてください。")
    if all(torch.equal(after[k], before[k]) for k in before if k.startswith("head.")):
        raise Wrong("出力層の重みが変わっていません。出力層は凍結せず、オプティマイザに渡してください。")


def _lr_of_each_parameter(groups, net) -> dict[int, float]:
    default_lr = 0.5   # no chapter uses it: a group without "lr" shows up as this value
    try:
        optimizer = optim.SGD(groups, lr=default_lr)
    except ValueError as error:
        if "more than one" in str(error):
            raise Wrong("同じパラメータが 2 つのグループに入っています。特徴抽出器のグループには "
                        "net.backbone.parameters()、出力層のグループには net.head.parameters() を使います "
                        "(net.parameters() はモデル全体です)。") from None
        raise Wrong(f"このパラメータグループではオプティマイザを作れません ({error})。") from None
    return {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}


@exercise("14.2", "層ごとの学習率のパラメータグループ make_param_groups(net, backbone_lr, head_lr)")
def check_param_groups(make_param_groups):
    torch.manual_seed(1402)
    net = _TransferNet(in_channels=3, width=5, n_classes=4)
    for backbone_lr, head_lr in ((3e-4, 2e-2), (5e-5, 7e-3)):
        groups = make_param_groups(net, backbone_lr, head_lr)
        if isinstance(groups, optim.Optimizer):
            raise Wrong("オプティマイザではなく、オプティマイザに渡すパラメータグループ (辞書のリスト) を返してください。")
        if groups is None:
            raise Wrong("何も返していません。[{\"params\": ..., \"lr\": ...}, {...}] のような辞書のリストを return してください。")
        groups = list(groups)
        if not groups or not all(isinstance(g, dict) for g in groups):
            raise Wrong("パラメータグループは、\"params\" と \"lr\" を持つ辞書のリストです "
                        "(例: [{\"params\": net.backbone.parameters(), \"lr\": backbone_lr}, ...])。")
        lrs = _lr_of_each_parameter(groups, net)
        missing = [name for name, p in net.named_parameters() if id(p) not in lrs]
        if missing:
            part = "出力層 (net.head)" if missing[0].startswith("head.") else "特徴抽出器 (net.backbone)"
            raise Wrong(f"{part} のパラメータ ({missing[0]} など) がどのグループにも入っていません。")
        backbone = {lrs[id(p)] for p in net.backbone.parameters()}
        head = {lrs[id(p)] for p in net.head.parameters()}
        if 0.5 in backbone | head:
            raise Wrong("\"lr\" を書いていないグループがあります。グループの辞書に \"lr\": ... を入れると、"
                        "そのグループだけの学習率になります。")
        if backbone == {head_lr} and head == {backbone_lr}:
            raise Wrong("学習率が逆です。事前学習した特徴抽出器は小さな学習率 (backbone_lr)、新しい出力層は"
                        "大きな学習率 (head_lr) です。")
        if backbone == {1e-4} and head == {1e-2}:
            raise Wrong("学習率を 1e-4 と 1e-2 に決め打ちしています。引数の backbone_lr と head_lr を使ってください。")
        if len(backbone | head) == 1:
            raise Wrong("すべてのパラメータが同じ学習率です。特徴抽出器と出力層を別のグループに分けてください。")
        if backbone != {backbone_lr} or head != {head_lr}:
            raise Wrong(f"学習率が違います: 特徴抽出器は {backbone_lr}、出力層は {head_lr} のはずが、"
                        f"特徴抽出器 {sorted(backbone)}、出力層 {sorted(head)} になっています。")


def _small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))


def _as_bool(answer, case: str) -> bool:
    if torch.is_tensor(answer) and answer.numel() == 1 and answer.dtype == torch.bool:
        return bool(answer.item())
    if not isinstance(answer, bool):
        raise Wrong(f"True か False を返してください ({case}で {type(answer).__name__} が返りました)。")
    return answer


@exercise("14.3", "重みが読み込まれたか確かめる weights_match(net, state)")
def check_weights_match(weights_match):
    generator = torch.Generator().manual_seed(1403)
    torch.manual_seed(1403)
    trained = _small_model()
    _pretend_pretrained(trained, generator)
    state = {k: v.clone() for k, v in trained.state_dict().items()}   # the "pretrained weights"

    loaded = _small_model()
    loaded.load_state_dict(state)
    if not _as_bool(weights_match(loaded, state), "正しく読み込んだモデル"):
        raise Wrong("正しく読み込んだモデルに False を返しました。state のキーごとに net.state_dict() の同じキーの"
                    "テンソルと torch.equal で比べ、すべて同じなら True にしてください。")

    fresh = _small_model()   # the same structure, random weights: nothing was loaded
    if _as_bool(weights_match(fresh, state), "読み込んでいないモデル"):
        raise Wrong("何も読み込んでいない (ランダムな重みの) モデルに True を返しました。キーの名前だけでなく、"
                    "テンソルの値を torch.equal で比べてください。")

    partial = _small_model()   # only the first layer was loaded
    partial.load_state_dict({k: v for k, v in state.items() if k.startswith("0.")}, strict=False)
    if _as_bool(weights_match(partial, state), "最初の層だけ読み込んだモデル"):
        raise Wrong("最初の層だけが読み込まれたモデルに True を返しました。一部のテンソルしか比べていませんか? "
                    "state のすべてのキーを比べてください。")

    params_only = _small_model()   # the parameters were copied, the BatchNorm statistics were not
    with torch.no_grad():
        for name, p in params_only.named_parameters():
            p.copy_(state[name])
    if _as_bool(weights_match(params_only, state), "BatchNorm の統計だけ違うモデル"):
        raise Wrong("パラメータは同じでも BatchNorm の running_mean などが違うモデルに True を返しました。"
                    "named_parameters() にはバッファ (BatchNorm の統計) が入りません。net.state_dict() と比べてください。")

    renamed = _small_model()   # saved by DataParallel: every key starts with "module."
    renamed.load_state_dict({"module." + k: v for k, v in state.items()}, strict=False)
    try:
        answer = weights_match(renamed, {"module." + k: v for k, v in state.items()})
    except KeyError as error:
        raise Wrong(f"state のキー {error} が net.state_dict() にないところで KeyError になりました。"
                    "キーがないときは (名前がずれていて読み込まれていないので) False を返してください "
                    "(key in net.state_dict() で確かめられます)。") from None
    if _as_bool(answer, "キーの名前がずれたモデル"):
        raise Wrong("キーの名前がずれていて何も読み込まれていないのに True を返しました。state のキーが "
                    "net.state_dict() にないときは、比べずに飛ばすのではなく False にしてください "
                    "(strict=False はこの失敗を黙って見逃します)。")
