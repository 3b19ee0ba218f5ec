"""Wrong answers to chapter 8's exercises, each with the hint its check must give."""

import torch
from torch import nn


class MLP2WithoutReLU(nn.Module):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        super().__init__()
        self.l1 = nn.Linear(n_input, n_hidden1)
        self.l2 = nn.Linear(n_hidden1, n_hidden2)
        self.l3 = nn.Linear(n_hidden2, n_output)

    def forward(self, x):
        return self.l3(self.l2(self.l1(x)))


class MLP2WithSoftmax(MLP2WithoutReLU):
    def forward(self, x):
        x = torch.relu(self.l2(torch.relu(self.l1(x))))
        return torch.softmax(self.l3(x), dim=1)


class MLP2ReLUOnOutput(MLP2WithoutReLU):
    def forward(self, x):
        return torch.relu(self.l3(torch.relu(self.l2(torch.relu(self.l1(x))))))


class MLP2OneReLU(MLP2WithoutReLU):
    def forward(self, x):
        return self.l3(self.l2(torch.relu(self.l1(x))))


class MLP2WrongSizes(nn.Module):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        super().__init__()
        self.l1 = nn.Linear(n_input, n_hidden1)
        self.l2 = nn.Linear(n_hidden1, n_output)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.l2(self.relu(self.l1(x)))


def epoch_without_zero_grad(net, loader, criterion, optimizer):
    net.train()
    total, n = 0.0, 0
    for inputs, labels in loader:
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        n += len(labels)
    return total / n


def epoch_without_train_mode(net, loader, criterion, optimizer):
    total, n = 0.0, 0
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        n += len(labels)
    return total / n


def epoch_mean_of_batch_means(net, loader, criterion, optimizer):
    net.train()
    losses = []
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def epoch_returns_the_sum(net, loader, criterion, optimizer):
    net.train()
    total = 0.0
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
    return total


def accuracy_without_eval(net, loader):
    correct, n = 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            correct += (net(inputs).argmax(dim=1) == labels).sum().item()
            n += len(labels)
    return correct / n


def accuracy_with_grad(net, loader):
    net.eval()
    correct, n = 0, 0
    for inputs, labels in loader:
        correct += (net(inputs).argmax(dim=1) == labels).sum().item()
        n += len(labels)
    return correct / n


def accuracy_mean_of_batches(net, loader):
    net.eval()
    accs = []
    with torch.no_grad():
        for inputs, labels in loader:
            accs.append((net(inputs).argmax(dim=1) == labels).float().mean().item())
    return sum(accs) / len(accs)


def accuracy_count(net, loader):
    net.eval()
    correct = 0
    with torch.no_grad():
        for inputs, labels in loader:
            correct += (net(inputs).argmax(dim=1) == labels).sum().item()
    return correct


WRONG = {
    "8.1": [(MLP2WithoutReLU, "ReLU がありません"), (MLP2WithSoftmax, "ソフトマックス"),
            (MLP2ReLUOnOutput, "出力層のあとにも ReLU"), (MLP2OneReLU, "ReLU が 1 つ足りません"),
            (MLP2WrongSizes, "重みの形が違います")],
    "8.2": [(epoch_without_zero_grad, "zero_grad()"), (epoch_without_train_mode, "net.train()"),
            (epoch_mean_of_batch_means, "1 件あたりの平均"), (epoch_returns_the_sum, "合計")],
    "8.3": [(accuracy_without_eval, "net.eval()"), (accuracy_with_grad, "torch.no_grad()"),
            (accuracy_mean_of_batches, "バッチごとの精度"), (accuracy_count, "正解数")],
}
