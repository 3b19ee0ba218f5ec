"""Checks of lecture 2's exercises (NumPy): scaling columns by broadcasting, choosing rows with a
boolean mask, an accuracy from class scores with argmax along the right axis."""

import numpy as np

from pythonlibs.exercises import Wrong, exercise, expect_number


def _as_array(answer, name: str) -> np.ndarray:
    if not isinstance(answer, np.ndarray):
        raise Wrong(f"{name}を NumPy 配列で返してください (あなたの答えは {type(answer).__name__})。"
                    "配列どうしの演算の結果は、そのまま NumPy 配列です。")
    return answer


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b)


def _minmax_mistakes(X: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """The usual wrong scalings of ``X`` (square, so a wrong axis still gives a square result)."""
    low, high = X.min(axis=0), X.max(axis=0)
    row_low, row_high = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
    axis_hint = ("axis=1 で行ごとに最小・最大を取っています。列ごと (縦方向) に集計するのは axis=0 です。")
    return [
        ((X - row_low) / (row_high - row_low), axis_hint),
        ((X - X.min(axis=1)) / (X.max(axis=1) - X.min(axis=1)), axis_hint),
        ((X - X.min()) / (X.max() - X.min()),
         "配列全体の最小・最大を使っています。X.min(axis=0) のように axis=0 を指定して、列ごとに計算してください。"),
        (X - low, "最小値を引いただけで、(最大 - 最小) で割っていません。"),
        ((X - low) / high, "割る数が最大値になっています。(最大 - 最小) で割ると、最大の値が 1 になります。"),
        (X / high, "最小値を引かずに最大値で割っています。(X - 最小) / (最大 - 最小) です。"),
        (((X.T - X.T.min(axis=0)) / (X.T.max(axis=0) - X.T.min(axis=0))),
         "行と列が入れ替わっています (転置)。X.T を使わず、X のまま axis=0 で計算してください。"),
    ]


@exercise("L2.1", "列ごとに 0〜1 に変換する minmax_columns(X)")
def check_minmax_columns(minmax_columns):
    rng = np.random.default_rng(21)
    square = rng.normal(5.0, 3.0, size=(4, 4)) * np.array([1.0, 10.0, 0.1, 2.0])
    kept = square.copy()
    answer = _as_array(minmax_columns(square), "結果")
    if not np.array_equal(square, kept):
        raise Wrong("引数の X を書き換えています。X -= … のようなその場の演算ではなく、新しい配列を作って返してください。")
    want = (square - square.min(axis=0)) / (square.max(axis=0) - square.min(axis=0))
    if not _same(answer, want):
        for wrong, hint in _minmax_mistakes(square):
            if _same(answer, wrong):
                raise Wrong(hint)
    X = rng.uniform(-20.0, 80.0, size=(7, 3)) * np.array([1.0, 0.01, 5.0])
    answer = _as_array(minmax_columns(X), "結果")
    want = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    if answer.shape == want.T.shape and answer.shape != want.shape:
        raise Wrong(f"形が {answer.shape} で、行と列が入れ替わっています (正しくは {want.shape})。"
                    "X.T を使わず、X のまま axis=0 で計算してください。")
    if answer.shape != want.shape:
        raise Wrong(f"形が違います: 正しくは X と同じ {want.shape}、あなたの答えは {answer.shape}。")
    if not np.allclose(answer, want):
        raise Wrong(f"値が違います。各列の最小が 0、最大が 1 になるはずです (あなたの答えの列ごとの最小 "
                    f"{np.round(answer.min(axis=0), 3).tolist()}、最大 {np.round(answer.max(axis=0), 3).tolist()})。")


@exercise("L2.2", "ブール値の配列で行を選ぶ select_rows(data, col, threshold)")
def check_select_rows(select_rows):
    rng = np.random.default_rng(22)
    data = np.round(rng.uniform(0.0, 10.0, size=(9, 4)), 1)
    col = 2
    threshold = float(np.median(data[:, col]))   # one row has exactly this value: it is not chosen
    answer = _as_array(select_rows(data.copy(), col, threshold), "選んだ行")
    mask = data[:, col] > threshold
    want = data[mask]
    if answer.dtype == bool:
        raise Wrong("True / False の配列 (mask) をそのまま返しています。data[mask] で、その行を取り出してください。")
    if _same(answer, data[mask, col]):
        raise Wrong(f"列 {col} の値だけを取り出しています。行全体が欲しいので data[mask] (または data[mask, :]) です。")
    if _same(answer, data[data[:, col] >= threshold]):
        raise Wrong(f"ちょうど threshold ({threshold}) の行も入っています。「より大きい」なので >= ではなく > です。")
    if _same(answer, data[data[:, col] < threshold]) or _same(answer, data[data[:, col] <= threshold]):
        raise Wrong("threshold より小さい行を選んでいます。不等号の向きを確かめてください。")
    for other in range(data.shape[1]):
        if other != col and _same(answer, data[data[:, other] > threshold]):
            raise Wrong(f"列 {other} で比べています。比べるのは引数 col の列 data[:, col] です。")
    if answer.shape != want.shape:
        raise Wrong(f"形が違います: 正しくは {want.shape} (条件を満たす {len(want)} 行 × {data.shape[1]} 列)、"
                    f"あなたの答えは {answer.shape}。")
    if not np.allclose(answer, want):
        raise Wrong("選んだ行が違います。mask = data[:, col] > threshold を作り、data[mask] で取り出してください。")


def _scores(rng, n: int, n_classes: int):
    scores = rng.normal(size=(n, n_classes))
    labels = scores.argmax(axis=1)
    wrong = rng.random(n) < 0.4                       # about 40 % wrong predictions
    labels[wrong] = (labels[wrong] + rng.integers(1, n_classes, wrong.sum())) % n_classes
    return scores, labels


@exercise("L2.3", "予測スコアから精度を求める accuracy_from_scores(scores, labels)")
def check_accuracy_from_scores(accuracy_from_scores):
    rng = np.random.default_rng(23)
    scores, labels = _scores(rng, 6, 6)                # square: a wrong axis still runs
    answer = accuracy_from_scores(scores.copy(), labels.copy())
    want = float((scores.argmax(axis=1) == labels).mean())
    if isinstance(answer, np.ndarray) and answer.size > 1:
        raise Wrong(f"配列 (形 {answer.shape}) が返っています。1 つの数 (正解の割合) にしてください: "
                    "(予測 == 正解).mean()。")
    mistakes = [
        ((scores.argmax(axis=0) == labels).mean(),
         "argmax の axis が違います。各行 (1 件のデータ) の中で最大の位置を取るので axis=1 です。"),
        ((scores.argmax(axis=1) == labels).sum(),
         "正解の「件数」になっています。件数で割って割合にしてください (.sum() ではなく .mean())。"),
        ((scores.argmax(axis=1) == labels).mean() * 100,
         "百分率 (%) になっています。0〜1 の割合で返してください。"),
        ((scores.max(axis=1) == labels).mean(),
         "max は最大の「値」です。予測クラスは最大の「位置」なので argmax を使ってください。"),
    ]
    if isinstance(answer, (int, float, np.number)) and not isinstance(answer, (bool, np.bool_)):
        for wrong, hint in mistakes:
            if np.isclose(float(answer), float(wrong)) and not np.isclose(float(wrong), want):
                raise Wrong(hint)
    expect_number(answer, want, "精度")
    scores, labels = _scores(rng, 40, 10)              # 40 data, 10 classes
    expect_number(accuracy_from_scores(scores, labels), float((scores.argmax(axis=1) == labels).mean()),
                  "40 件・10 クラスでの精度")
