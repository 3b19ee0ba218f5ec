"""Check of the introduction's exercise: the accuracy of predicted classes."""

import torch

from pythonlibs.exercises import Wrong, exercise, expect_number


def _predictions(seed: int, n: int):
    """Labels of ``n`` images and predictions of which about a third are wrong."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    wrong = torch.rand(n, generator=generator) < 0.35
    shift = torch.randint(1, 10, (n,), generator=generator)
    predicted = torch.where(wrong, (labels + shift) % 10, labels)
    return predicted, labels


def _value(answer):
    """The learner's answer as a float, for recognising the usual mistakes."""
    if torch.is_tensor(answer) and answer.numel() == 1:
        return float(answer.item())
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return float(answer)
    return None


@exercise("0.1", "正解率 accuracy(predicted, labels)")
def check_accuracy(accuracy):
    for seed, n in ((1, 40), (2, 7)):
        predicted, labels = _predictions(seed, n)
        try:
            answer = accuracy(predicted, labels)
        except RuntimeError as error:
            if "Bool" in str(error) or "dtype" in str(error):
                raise Wrong("True/False (bool) のテンソルはそのままでは .mean() できません。"
                            ".float() で 1.0 / 0.0 の数にしてから平均してください。") from None
            raise
        n_right = int((predicted == labels).sum())
        want = n_right / n
        got = _value(answer)
        if got is not None:
            if abs(got - n_right) < 1e-6 and n_right != want:
                raise Wrong("正解した「枚数」になっています。全体の枚数で割って、割合にしてください (.mean() なら一度で済みます)。")
            if abs(got - 100 * want) < 1e-4:
                raise Wrong("百分率 (%) になっています。100 倍せず、0〜1 の割合で返してください。")
            if abs(got - (1 - want)) < 1e-6 and abs(want - 0.5) > 1e-6:
                raise Wrong("間違えた割合になっています。predicted == labels (予測と正解が等しい) の割合を求めてください。")
            if abs(got - n_right / 100) < 1e-6:
                raise Wrong("100 で割っていませんか。枚数はデータによって変わるので、len(labels) で割ってください。")
        expect_number(answer, want, "正解率")
