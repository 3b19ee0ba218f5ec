"""Wrong answers to the introduction's exercise, each with the hint its check must give."""


def accuracy_count(predicted, labels):
    return (predicted == labels).sum().item()


def accuracy_percent(predicted, labels):
    return (predicted == labels).float().mean().item() * 100


def accuracy_of_bools(predicted, labels):
    return (predicted == labels).mean()


def accuracy_per_100(predicted, labels):
    return (predicted == labels).sum().item() / 100


def error_rate(predicted, labels):
    return (predicted != labels).float().mean().item()


WRONG = {
    "0.1": [(accuracy_count, "枚数"), (accuracy_percent, "百分率"), (accuracy_of_bools, ".float()"),
            (accuracy_per_100, "len(labels)"), (error_rate, "間違えた割合")],
}
