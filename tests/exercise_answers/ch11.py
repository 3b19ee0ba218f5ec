"""Wrong answers to chapter 11's exercises, each with the hint its check must give."""

from torch import nn


def replace_head_out_features_only(net, n_classes):
    net.fc.out_features = n_classes
    return net


def replace_head_ten_classes(net, n_classes):
    net.fc = nn.Linear(net.fc.in_features, 10)
    return net


def replace_head_resnet18_inputs(net, n_classes):
    net.fc = nn.Linear(512, n_classes)
    return net


def replace_head_appended(net, n_classes):
    net.fc = nn.Sequential(net.fc, nn.Linear(1000, n_classes))
    return net


def replace_head_returns_nothing(net, n_classes):
    net.fc = nn.Linear(net.fc.in_features, n_classes)


def freeze_everything(net):
    for param in net.parameters():
        param.requires_grad = False
    return net


def freeze_convolutions_only(net):
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.requires_grad = False
    return net


def freeze_without_batchnorm_eval(net):
    for name, param in net.named_parameters():
        param.requires_grad = name.startswith("fc.")
    return net


def freeze_whole_model_eval(net):
    for name, param in net.named_parameters():
        param.requires_grad = name.startswith("fc.")
    net.eval()
    return net


def count_tensors(net):
    params = list(net.parameters())
    return sum(1 for p in params if p.requires_grad), len(params)


def count_ignoring_requires_grad(net):
    total = sum(p.numel() for p in net.parameters())
    return total, total


def count_swapped(net):
    return sum(p.numel() for p in net.parameters()), sum(p.numel() for p in net.parameters() if p.requires_grad)


def count_only_fc(net):
    return sum(p.numel() for p in net.fc.parameters()), sum(p.numel() for p in net.parameters())


WRONG = {
    "11.1": [(replace_head_out_features_only, "重みの形は"), (replace_head_ten_classes, "決め打ちせず"),
             (replace_head_resnet18_inputs, "512 と決め打ち"), (replace_head_appended, "後ろに層を足して"),
             (replace_head_returns_nothing, "何も返していません")],
    "11.2": [(freeze_everything, "fc まで固定"), (freeze_convolutions_only, "BatchNorm の weight / bias"),
             (freeze_without_batchnorm_eval, "訓練モードのまま"), (freeze_whole_model_eval, "モデル全体を eval()")],
    "11.3": [(count_tensors, "テンソルの数"), (count_ignoring_requires_grad, "requires_grad が True のものだけ"),
             (count_swapped, "順番が逆"), (count_only_fc, "fc だけでなく")],
}
