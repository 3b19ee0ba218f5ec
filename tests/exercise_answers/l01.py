"""Wrong answers to lecture 1's exercises, each with the hint its check must give."""


def epochs_below_losses(history, threshold):
    return [loss for epoch, loss in history if loss < threshold]


def epochs_below_pairs(history, threshold):
    return [(epoch, loss) for epoch, loss in history if loss < threshold]


def epochs_below_flags(history, threshold):
    return [loss < threshold for epoch, loss in history]


def epochs_below_or_equal(history, threshold):
    return [epoch for epoch, loss in history if loss <= threshold]


def epochs_above(history, threshold):
    return [epoch for epoch, loss in history if loss > threshold]


def epochs_below_tuple(history, threshold):
    return tuple(epoch for epoch, loss in history if loss < threshold)


def count_labels_by_number(labels, classes):
    counts = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def count_labels_seen_only(labels, classes):
    counts = {}
    for label in labels:
        name = classes[label]
        counts[name] = counts.get(name, 0) + 1
    return counts


def count_labels_as_list(labels, classes):
    return [labels.count(i) for i in range(len(classes))]


def count_labels_off_by_one(labels, classes):
    counts = {name: 0 for name in classes}
    for label in labels[1:]:
        counts[classes[label]] += 1
    return counts


def probabilities_exact_equality(probs, tol=1e-6):
    assert min(probs) >= 0, "負の確率があります"
    assert sum(probs) == 1, "確率の合計が 1 ではありません"


def probabilities_ignoring_tol(probs, tol=1e-6):
    assert min(probs) >= 0, "負の確率があります"
    assert abs(sum(probs) - 1) <= 1e-6, "確率の合計が 1 ではありません"


def probabilities_loose_default(probs, tol=0.01):
    assert min(probs) >= 0, "負の確率があります"
    assert abs(sum(probs) - 1) <= tol, "確率の合計が 1 ではありません"


def probabilities_without_message(probs, tol=1e-6):
    assert min(probs) >= 0
    assert abs(sum(probs) - 1) <= tol


def probabilities_with_raise(probs, tol=1e-6):
    if min(probs) < 0 or abs(sum(probs) - 1) > tol:
        raise ValueError("確率ではありません")


def probabilities_sum_only(probs, tol=1e-6):
    assert abs(sum(probs) - 1) <= tol, "確率の合計が 1 ではありません"


WRONG = {
    "L1.1": [(epochs_below_losses, "損失の値"), (epochs_below_pairs, "組のまま"),
             (epochs_below_flags, "True / False"), (epochs_below_or_equal, "<= ではなく <"),
             (epochs_above, "不等号の向き"), (epochs_below_tuple, "リストを返して")],
    "L1.2": [(count_labels_by_number, "クラス番号"), (count_labels_seen_only, "一度も出てこない"),
             (count_labels_as_list, "辞書"), (count_labels_off_by_one, "件数が違います")],
    "L1.3": [(probabilities_exact_equality, "== 1 ではなく"), (probabilities_ignoring_tol, "引数 tol"),
             (probabilities_loose_default, "既定の tol"), (probabilities_without_message, "メッセージがありません"),
             (probabilities_with_raise, "assert 文で"), (probabilities_sum_only, "負の値")],
}
