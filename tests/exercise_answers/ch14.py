"""Wrong answers to chapter 14's exercises, each with the hint its check must give."""

import torch


# 14.1 freeze_backbone(net)

def freeze_with_zero_gradient_hook(net):
    for p in net.backbone.parameters():
        p.register_hook(lambda grad: torch.zeros_like(grad))
    net.backbone.eval()
    return list(net.parameters())


def freeze_without_eval(net):
    for p in net.backbone.parameters():
        p.requires_grad = False
    return [p for p in net.parameters() if p.requires_grad]


def freeze_the_head_too(net):
    for p in net.parameters():
        p.requires_grad = False
    net.eval()
    return list(net.head.parameters())


def freeze_but_return_everything(net):
    for p in net.backbone.parameters():
        p.requires_grad = False
    net.backbone.eval()
    return list(net.parameters())


def freeze_by_leaving_out_of_the_optimizer(net):
    net.backbone.eval()
    return list(net.head.parameters())


def freeze_and_return_nothing(net):
    for p in net.backbone.parameters():
        p.requires_grad = False
    net.backbone.eval()


# 14.2 make_param_groups(net, backbone_lr, head_lr)

def groups_swapped(net, backbone_lr, head_lr):
    return [{"params": net.backbone.parameters(), "lr": head_lr},
            {"params": net.head.parameters(), "lr": backbone_lr}]


def groups_whole_model_twice(net, backbone_lr, head_lr):
    return [{"params": net.parameters(), "lr": backbone_lr},
            {"params": net.head.parameters(), "lr": head_lr}]


def groups_without_head(net, backbone_lr, head_lr):
    return [{"params": net.backbone.parameters(), "lr": backbone_lr}]


def groups_hard_coded(net, backbone_lr, head_lr):
    return [{"params": net.backbone.parameters(), "lr": 1e-4},
            {"params": net.head.parameters(), "lr": 1e-2}]


def groups_without_lr(net, backbone_lr, head_lr):
    return [{"params": net.backbone.parameters()}, {"params": net.head.parameters(), "lr": head_lr}]


# 14.3 weights_match(net, state)

def match_keys_only(net, state):
    return set(state) <= set(net.state_dict())


def match_skipping_missing_keys(net, state):
    current = net.state_dict()
    return all(torch.equal(current[k], v) for k, v in state.items() if k in current)


def match_first_tensor_only(net, state):
    key = next(iter(state))
    return torch.equal(net.state_dict()[key], state[key])


def match_parameters_only(net, state):
    return all(torch.equal(p, state[name]) for name, p in net.named_parameters())


WRONG = {
    "14.1": [(freeze_with_zero_gradient_hook, "weight decay"), (freeze_without_eval, "eval()"),
             (freeze_the_head_too, "出力層 (net.head) まで凍結"),
             (freeze_but_return_everything, "凍結した特徴抽出器のパラメータが入っています"),
             (freeze_by_leaving_out_of_the_optimizer, "requires_grad が True のまま"),
             (freeze_and_return_nothing, "何も返していません")],
    "14.2": [(groups_swapped, "逆"), (groups_whole_model_twice, "2 つのグループ"),
             (groups_without_head, "出力層 (net.head) のパラメータ"), (groups_hard_coded, "決め打ち"),
             (groups_without_lr, "\"lr\" を書いていない")],
    "14.3": [(match_keys_only, "値を torch.equal で比べて"), (match_skipping_missing_keys, "飛ばす"),
             (match_first_tensor_only, "一部のテンソル"), (match_parameters_only, "バッファ")],
}
