"""Checks of lecture 1's exercises (Python): a list comprehension, a dictionary, an assert with a
default argument."""

import numpy as np

from pythonlibs.exercises import Wrong, exercise


def _history(seed: int, n: int = 8):
    """A learning record the notebook never showed: [(epoch, loss), ...] with epochs from 1."""
    rng = np.random.default_rng(seed)
    losses = np.round(np.sort(rng.uniform(0.05, 2.0, n))[::-1] + rng.normal(0, 0.05, n), 3)
    return [(epoch, float(loss)) for epoch, loss in enumerate(losses, start=1)]


@exercise("L1.1", "内包表記で条件に合うエポックを選ぶ epochs_below(history, threshold)")
def check_epochs_below(epochs_below):
    history = _history(11)
    threshold = history[4][1]       # one loss equals the threshold exactly: 未満 excludes it
    answer = epochs_below(list(history), threshold)
    want = [epoch for epoch, loss in history if loss < threshold]
    if not isinstance(answer, list):
        raise Wrong(f"リストを返してください (あなたの答えは {type(answer).__name__})。"
                    "[式 for 変数 in 入れ物 if 条件] の形の内包表記は、リストを作ります。")
    if answer == [loss for _, loss in history if loss < threshold]:
        raise Wrong("損失の値を返しています。返すのはエポック番号です。"
                    "for epoch, loss in history で 2 つに分けて、式の部分には epoch を書きます。")
    if answer == [(epoch, loss) for epoch, loss in history if loss < threshold]:
        raise Wrong("(エポック, 損失) の組のまま返しています。エポック番号だけのリストにしてください。")
    if answer and all(isinstance(a, bool) for a in answer):
        raise Wrong("True / False のリストになっています。条件は式の部分ではなく、後ろの if に書きます: "
                    "[epoch for epoch, loss in history if 条件]。")
    if answer == [epoch for epoch, loss in history if loss <= threshold]:
        raise Wrong(f"損失がちょうど threshold ({threshold}) のエポックも入っています。"
                    "「未満」なので <= ではなく < で比べます。")
    if answer == [epoch for epoch, loss in history if loss > threshold] or \
            answer == [epoch for epoch, loss in history if loss >= threshold]:
        raise Wrong("損失が threshold より大きいエポックを選んでいます。不等号の向きを確かめてください。")
    if answer != want and sorted(answer) == sorted(want):
        raise Wrong("エポックの順番が変わっています。history の順番のまま返してください。")
    if answer != want:
        raise Wrong(f"選んだエポックが違います: 正しくは {want}、あなたの答えは {answer}。")
    lowest = min(loss for _, loss in history)
    if epochs_below(history, lowest) != []:
        raise Wrong(f"threshold が一番小さい損失 ({lowest}) のとき、どのエポックも「未満」ではないので"
                    "空のリスト [] になるはずです。")


@exercise("L1.2", "辞書でクラスごとの件数を数える count_labels(labels, classes)")
def check_count_labels(count_labels):
    rng = np.random.default_rng(12)
    classes = ["飛行機", "自動車", "鳥", "猫", "鹿"]
    labels = [int(v) for v in rng.choice([0, 1, 3, 4], size=15, p=[0.1, 0.3, 0.4, 0.2])]  # no 2 = 鳥
    answer = count_labels(list(labels), list(classes))
    want = {name: labels.count(i) for i, name in enumerate(classes)}
    if not isinstance(answer, dict):
        raise Wrong(f"辞書 {{クラス名: 件数}} を返してください (あなたの答えは {type(answer).__name__})。")
    by_number = {i: labels.count(i) for i in range(len(classes))}
    if answer == by_number or answer == {i: n for i, n in by_number.items() if n > 0}:
        raise Wrong("キーがクラス番号 (0, 1, …) になっています。キーは classes[番号] で引いたクラス名にしてください。")
    if answer == {name: n for name, n in want.items() if n > 0}:
        raise Wrong(f"一度も出てこないクラス ({', '.join(n for n, c in want.items() if c == 0)}) が辞書にありません。"
                    "最初にすべてのクラス名を件数 0 で辞書に入れてから数えてください。")
    if set(answer) != set(classes):
        raise Wrong(f"辞書のキーが違います: 正しくは {classes} のすべて、あなたの答えは {list(answer)}。")
    wrong = [name for name in classes if answer[name] != want[name]]
    if wrong:
        name = wrong[0]
        raise Wrong(f"「{name}」の件数が違います: 正しくは {want[name]}、あなたの答えは {answer[name]}。"
                    "labels の 1 つ 1 つについて、counts[classes[label]] に 1 を足していますか。")


def _outcome_of(call):
    """("ok", None) if ``call()`` returns, ("assert", error) for AssertionError, ("other", error)."""
    try:
        call()
    except AssertionError as error:
        return "assert", error
    except NotImplementedError:
        raise
    except Exception as error:   # noqa: BLE001 - the learner raised something else: say so
        return "other", error
    return "ok", None


def _must_stop(check_probabilities, probs, what, **kwargs):
    status, error = _outcome_of(lambda: check_probabilities(list(probs), **kwargs))
    if status == "ok":
        raise Wrong(f"{what} なのに止まりません ({[round(p, 3) for p in probs]})。assert 条件, \"メッセージ\" の"
                    "条件を確かめてください。")
    if status == "other":
        raise Wrong(f"{type(error).__name__} で止まっています。raise ではなく assert 文で止めてください "
                    "(AssertionError になります)。")
    if not error.args or not str(error.args[0]).strip():
        raise Wrong("assert にメッセージがありません。assert 条件, \"何が違うか・どこを見るか\" のように、"
                    "カンマの後ろにメッセージを書いてください。")


@exercise("L1.3", "assert で確率を確かめる check_probabilities(probs, tol=1e-6)")
def check_check_probabilities(check_probabilities):
    rng = np.random.default_rng(13)
    raw = rng.uniform(0.1, 1.0, 9)
    valid = [float(p) for p in raw / raw.sum()]
    tenths = [0.1] * 10            # sum(tenths) is 0.9999999999999999, not exactly 1
    for probs in (valid, tenths):
        status, error = _outcome_of(lambda: check_probabilities(list(probs)))
        if status != "ok":
            hint = (f"合計が 1 の正しい確率 (合計は Python の計算で {sum(probs)!r}) で止まってしまいました。")
            if sum(probs) != 1.0:
                hint += ("小数の計算には小さな誤差があるので、== 1 ではなく abs(合計 - 1) <= tol で比べてください。")
            raise Wrong(hint + (f" ({type(error).__name__}: {error})" if error is not None else ""))
    near = [float(p) for p in raw / raw.sum() * 0.95]       # sums to 0.95
    status, error = _outcome_of(lambda: check_probabilities(list(near), tol=0.1))
    if status != "ok":
        raise Wrong("tol=0.1 を指定すると合計 0.95 は許されるはずなのに止まりました。"
                    "引数 tol を、合計と 1 の差を比べる式で使っていますか。")
    _must_stop(check_probabilities, near, "既定の tol (1e-6) で合計が 0.95")
    _must_stop(check_probabilities, [float(p) for p in raw / raw.sum() * 0.99999], "既定の tol (1e-6) で合計が 0.99999")
    a = float(rng.uniform(0.2, 0.4))
    _must_stop(check_probabilities, [1.0 + a, 0.5 - a, -0.5], "合計は 1 でも負の値を含む確率")
