"""Checks of chapter 4's exercises: nn.Linear's computation by hand, an nn.Module with given
layers, and the number of parameters of a stack of linear layers."""

import torch
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_number, expect_tensor


def _close(a, b) -> bool:
    return torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@exercise("4.1", "線形層の計算を手で書く linear_forward(x, weight, bias)")
def check_linear_forward(linear_forward):
    generator = torch.Generator().manual_seed(41)
    for n, n_in, n_out in ((5, 4, 3), (6, 3, 3)):   # the second: a square weight (no shape error to help)
        x = torch.randn(n, n_in, generator=generator)
        weight = torch.randn(n_out, n_in, generator=generator)
        bias = torch.randn(n_out, generator=generator)
        want = x @ weight.T + bias
        try:
            answer = linear_forward(x, weight, bias)
        except RuntimeError as error:
            if "shape" in str(error) or "size" in str(error):
                raise Wrong(f"形が合わず計算できません ({error})。weight の形は (出力の数, 入力の数) なので、"
                            "x @ weight.T のように転置してから掛けてください。") from None
            raise
        if n_in == n_out and _close(answer, x @ weight + bias):
            raise Wrong("weight を転置していません。weight の形は (出力の数, 入力の数) なので x @ weight.T です。")
        if _close(answer, x @ weight.T):
            raise Wrong("バイアスを足していません。x @ weight.T + bias です。")
        if torch.is_tensor(answer) and answer.shape == (n_out, n):
            raise Wrong(f"答えの形が {tuple(answer.shape)} で、(件数, 出力の数) = {(n, n_out)} の逆です。"
                        "weight @ x.T ではなく x @ weight.T の順に掛けてください。")
        expect_tensor(answer, want, "出力")
        layer = nn.Linear(n_in, n_out)   # the same numbers as nn.Linear computes them
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
            expect_tensor(answer, layer(x), "nn.Linear と比べた出力")


def _instantiate(MLP3, sizes):
    try:
        return MLP3(*sizes)
    except AttributeError as error:
        if "__init__" in str(error):
            raise Wrong("層を属性にする前に super().__init__() を呼んでいません。__init__ の最初の行で "
                        "super().__init__() を呼んでください。") from None
        raise


@exercise("4.2", "3 つの線形層をもつモデル class MLP3(nn.Module)")
def check_mlp3(MLP3):
    generator = torch.Generator().manual_seed(42)
    for sizes in ((5, 8, 6, 3), (2, 7, 4, 1)):
        n_input, n_hidden1, n_hidden2, n_output = sizes
        torch.manual_seed(0)   # the learner's layers draw their initial values; the state is restored afterwards
        net = _instantiate(MLP3, sizes)
        if not isinstance(net, nn.Module):
            raise Wrong("MLP3 は nn.Module を継承したクラスにしてください (class MLP3(nn.Module):)。")
        linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise Wrong("モデルに nn.Linear が登録されていません。層は self.l1 = nn.Linear(...) のように "
                        "属性として持たせてください (ふつうの Python のリストに入れると登録されません)。")
        shapes = [tuple(m.weight.shape) for m in linears]
        want_shapes = [(n_hidden1, n_input), (n_hidden2, n_hidden1), (n_output, n_hidden2)]
        if shapes != want_shapes:
            raise Wrong(f"MLP3{sizes} の線形層の重みの形が {shapes} です。正しくは {want_shapes} "
                        "(nn.Linear(入力の数, 出力の数) を、引数の大きさを使って 3 つ作ります)。")
        n_params = sum(p.numel() for p in net.parameters())
        n_linear = sum(p.numel() for m in linears for p in m.parameters())
        if n_params != n_linear:
            raise Wrong(f"net.parameters() の要素数が {n_params} で、3 つの線形層の合計 {n_linear} と違います。")
        x = torch.randn(9, n_input, generator=generator) * 3
        answer = net(x)
        l1, l2, l3 = linears
        with torch.no_grad():
            want = l3(torch.relu(l2(torch.relu(l1(x)))))
            if _close(answer, l3(l2(l1(x)))):
                raise Wrong("ReLU が入っていません。線形層の間に ReLU をはさまないと、3 層でも 1 つの線形層と同じです (4.5 節)。")
            if _close(answer, torch.relu(want)):
                raise Wrong("最後の線形層の後にも ReLU をかけています。ReLU は線形層の「間」だけにし、出力はそのまま返します。")
            if _close(answer, l3(torch.relu(l2(l1(x))))) or _close(answer, l3(l2(torch.relu(l1(x))))):
                raise Wrong("ReLU が 1 か所しかありません。l1 の後と l2 の後の 2 か所にはさんでください。")
        expect_tensor(answer, want, f"MLP3{sizes} の出力")


@exercise("4.3", "線形層を重ねたモデルのパラメータ数 count_linear_params(sizes)")
def check_count_linear_params(count_linear_params):
    generator = torch.Generator().manual_seed(43)
    for _ in range(3):
        n_layers = int(torch.randint(2, 5, (1,), generator=generator))
        sizes = [int(v) for v in torch.randint(2, 60, (n_layers + 1,), generator=generator)]
        net = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        want = sum(p.numel() for p in net.parameters())
        answer = count_linear_params(list(sizes))
        if torch.is_tensor(answer) or not isinstance(answer, int):
            try:
                answer = int(answer)
            except (TypeError, ValueError):
                raise Wrong(f"整数を返してください (あなたの答えは {type(answer).__name__})。") from None
        if answer == want:
            continue
        pairs = list(zip(sizes[:-1], sizes[1:]))
        if answer == sum(a * b for a, b in pairs):
            raise Wrong(f"sizes = {sizes}: バイアスを数えていません。各層には重み (出力数 × 入力数) のほかに、"
                        "出力の数だけバイアスがあります。")
        if answer == sum(a * b + a for a, b in pairs):
            raise Wrong(f"sizes = {sizes}: バイアスの数を入力の数で数えています。バイアスは出力 1 つに 1 個です。")
        if answer == len(list(net.parameters())):
            raise Wrong("パラメータの「テンソルの数」を数えています。要素の数 (numel) を合計してください。")
        if answer == sum(a * b + b for a, b in pairs[:1]):
            raise Wrong(f"sizes = {sizes}: 最初の層しか数えていません。隣り合う大きさの組ごとに 1 層あります。")
        expect_number(answer, float(want), f"sizes = {sizes} のパラメータ数", rtol=0)
