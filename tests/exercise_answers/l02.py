"""Wrong answers to lecture 2's exercises, each with the hint its check must give."""


def minmax_rows(X):
    low, high = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
    return (X - low) / (high - low)


def minmax_rows_without_keepdims(X):
    return (X - X.min(axis=1)) / (X.max(axis=1) - X.min(axis=1))


def minmax_whole_array(X):
    return (X - X.min()) / (X.max() - X.min())


def minmax_divided_by_max(X):
    return (X - X.min(axis=0)) / X.max(axis=0)


def minmax_transposed(X):
    T = X.T
    return (T - T.min(axis=0)) / (T.max(axis=0) - T.min(axis=0))


def minmax_in_place(X):
    X -= X.min(axis=0)
    X /= X.max(axis=0)
    return X


def minmax_as_list(X):
    return ((X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))).tolist()


def select_mask(data, col, threshold):
    return data[:, col] > threshold


def select_column_only(data, col, threshold):
    return data[data[:, col] > threshold, col]


def select_at_least(data, col, threshold):
    return data[data[:, col] >= threshold]


def select_below(data, col, threshold):
    return data[data[:, col] < threshold]


def select_first_column(data, col, threshold):
    return data[data[:, 0] > threshold]


def accuracy_axis_0(scores, labels):
    return (scores.argmax(axis=0) == labels).mean()


def accuracy_count(scores, labels):
    return (scores.argmax(axis=1) == labels).sum()


def accuracy_percent(scores, labels):
    return (scores.argmax(axis=1) == labels).mean() * 100


def accuracy_with_max(scores, labels):
    return (scores.max(axis=1) == labels).mean()


def accuracy_matches(scores, labels):
    return scores.argmax(axis=1) == labels


WRONG = {
    "L2.1": [(minmax_rows, "axis=1"), (minmax_rows_without_keepdims, "axis=1"),
             (minmax_whole_array, "配列全体"), (minmax_divided_by_max, "(最大 - 最小) で割る"),
             (minmax_transposed, "転置"), (minmax_in_place, "書き換えて"), (minmax_as_list, "NumPy 配列で")],
    "L2.2": [(select_mask, "mask"), (select_column_only, "値だけ"), (select_at_least, ">= ではなく >"),
             (select_below, "不等号の向き"), (select_first_column, "列 0 で比べて")],
    "L2.3": [(accuracy_axis_0, "axis"), (accuracy_count, ".mean()"), (accuracy_percent, "百分率"),
             (accuracy_with_max, "argmax"), (accuracy_matches, "1 つの数")],
}
