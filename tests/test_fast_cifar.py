"""Unit tests of pythonlibs.fast_cifar on small real data (scikit-learn's digits, upscaled to 32x32)."""

import numpy as np
import pytest
import torch

import pythonlibs.fast_cifar as fc


pytestmark = pytest.mark.usefixtures("one_thread")


def index_images(n, size=8):
    """Images whose every pixel is the image's index: crops and flips must keep that value."""
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size)
    return images.contiguous(), torch.arange(n)


def test_images_to_tensor_shapes_and_normalisation(digits32_rgb):
    images, labels = digits32_rgb
    x, y = fc.images_to_tensor(images, labels, "cpu")
    assert x.shape == (len(images), 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (len(images),) and y.dtype == torch.long
    expected = (images[5, 10, 12, 1] / 255 - fc.CIFAR10_MEAN[1]) / fc.CIFAR10_STD[1]
    assert x[5, 1, 10, 12].item() == pytest.approx(expected, abs=1e-5)
    grey, _ = fc.images_to_tensor(images[..., 0], labels, "cpu", mean=0.5, std=0.5)
    assert grey.shape == (len(images), 1, 32, 32)
    with pytest.raises(ValueError):
        fc.images_to_tensor(images.astype(np.float32), labels, "cpu")


def test_random_flip_mirrors_some_images_and_keeps_others(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:200], digits32_rgb[1][:200], "cpu")
    torch.manual_seed(0)
    out = fc.random_flip(x)
    assert out.shape == x.shape
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all()
    assert (same & ~mirrored).any() and (mirrored & ~same).any()


def test_random_crop_is_a_shifted_window_of_the_padded_image(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:100], digits32_rgb[1][:100], "cpu")
    torch.manual_seed(0)
    pad = 2
    out = fc.random_crop(x, pad, padding_mode="constant")
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    shifts = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                 if torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert found, f"image {i} is not a crop of its padded image"
        shifts.append(found[0])
    assert len(set(shifts)) > 5
    assert torch.equal(fc.random_crop(x, 0), x)


def test_loader_visits_every_sample_once_and_keeps_labels():
    images, labels = index_images(103)
    torch.manual_seed(0)
    loader = fc.DeviceLoader(images, labels, batch_size=10, shuffle=True, crop_pad=2, flip=True)
    assert len(loader) == 11
    for _ in range(2):
        seen = []
        for x, y in loader:
            assert x.shape[1:] == (3, 8, 8) and len(x) == len(y)
            assert torch.equal(x[:, 0, 0, 0].long(), y)        # augmentation kept image <-> label
            seen.append(y)
        assert torch.equal(torch.cat(seen).sort().values, torch.arange(103))
    first = next(iter(loader))[1]
    assert not torch.equal(first, torch.arange(10))             # shuffled
    drop = fc.DeviceLoader(images, labels, batch_size=10, drop_last=True)
    assert len(drop) == 10 and all(len(y) == 10 for _, y in drop)


def test_fast_net_shapes_and_whitening(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:256], digits32_rgb[1][:256], "cpu")
    net = fc.make_fast_net(widths=(16, 32, 32))
    assert net(x[:4]).shape == (4, 10)
    fc.init_whitening(net.whiten, x, eps=1e-6)
    with torch.no_grad():
        white = net.whiten(x)[:, :12]                           # the + half of the filters
    assert white.shape == (256, 12, 31, 31)
    flat = white.transpose(0, 1).reshape(12, -1)
    cov = flat @ flat.T / flat.shape[1]
    # digits have near-constant regions, so tiny eigen-directions get clipped by eps
    assert torch.allclose(cov[:4, :4], torch.eye(4), atol=0.05)
    assert not net.whiten.weight.requires_grad


def test_residual_group_adds_the_identity_shortcut(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:8], digits32_rgb[1][:8], "cpu")
    group = fc.ResidualGroup(3, 8).eval()
    assert group(x).shape == (8, 8, 16, 16)
    with torch.no_grad():
        group.conv3.weight.zero_()                              # F(x) = GELU(BN(0)) = 0
        trunk = group.act(group.norm1(group.pool(group.conv1(x))))
        assert torch.allclose(group(x), trunk)                  # only the shortcut is left
    net = fc.make_fast_net(widths=(8, 16, 16), group=fc.ResidualGroup)
    assert net(x).shape == (8, 10)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 1 + 3 * 3


def test_lr_factor_schedules():
    total = 100
    for schedule in ("onecycle", "cosine"):
        values = [fc.lr_factor(s, total, schedule) for s in range(total + 1)]
        assert values[0] == pytest.approx(0.2)
        assert max(values) == pytest.approx(1.0)
        assert values[-1] == pytest.approx(0.07)
        assert int(np.argmax(values)) == 23
    with pytest.raises(ValueError):
        fc.lr_factor(50, total, "step")


def test_optimizer_groups_and_lookahead():
    net = fc.make_fast_net(widths=(8, 16, 16))
    optimizer = fc.make_optimizer(net, fc.Recipe())
    norm_group, other_group, whiten_group = optimizer.param_groups
    assert [g["name"] for g in optimizer.param_groups] == ["norm", "other", "whiten_bias"]
    assert norm_group["lr"] == pytest.approx(other_group["lr"] * 64)
    assert whiten_group["params"] == [net.whiten.bias]
    assert optimizer.defaults["nesterov"]
    assert all(p.dim() == 1 for p in norm_group["params"])
    assert all(p is not net.whiten.weight and p is not net.whiten.bias
               for p in other_group["params"])                  # frozen / its own group
    lookahead = fc.Lookahead(net)
    with torch.no_grad():
        net.head.weight.add_(1.0)
    changed = net.head.weight.detach().clone()
    lookahead.update(net, decay=0.0)                            # ema := net
    assert torch.equal(net.head.weight, changed)
    with torch.no_grad():
        net.head.weight.add_(2.0)
    lookahead.update(net, decay=0.5)                            # halfway back
    assert torch.allclose(net.head.weight, changed + 1.0)


def test_lookahead_moves_every_float_tensor_and_follows_a_moved_net():
    net = fc.make_fast_net(widths=(8, 16, 16))
    lookahead = fc.Lookahead(net)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for v in net.state_dict().values():
            if v.dtype.is_floating_point:
                v.add_(4.0)
        net.groups[0].norm1.num_batches_tracked.add_(7)
    counters = {k: v.item() for k, v in net.state_dict().items() if not v.dtype.is_floating_point}
    lookahead.update(net, decay=0.75)                           # a quarter of the way to the net
    for name, value in net.state_dict().items():
        if value.dtype.is_floating_point:
            assert torch.allclose(value, start[name] + 1.0), name
        else:                                                   # counters are left alone
            assert value.item() == counters[name], name
    assert counters["groups.0.norm1.num_batches_tracked"] == 7
    old_storage = net.groups[0].conv1.weight.data_ptr()
    net.to(memory_format=torch.channels_last)                   # new tensors: update must follow
    assert net.groups[0].conv1.weight.data_ptr() != old_storage
    with torch.no_grad():
        net.groups[0].conv1.weight.add_(4.0)
    lookahead.update(net, decay=1.0)                            # back to the average
    assert torch.allclose(net.groups[0].conv1.weight, start["groups.0.conv1.weight"] + 1.0)


def test_whiten_bias_learns_only_its_epochs_and_stays_trainable(digits32_rgb):
    x, y = fc.images_to_tensor(digits32_rgb[0][:400, ::2, ::2], digits32_rgb[1][:400], "cpu")
    for whiten_epochs in (0, 2):
        torch.manual_seed(0)
        net = fc.make_fast_net(widths=(8, 16, 16))
        recipe = fc.Recipe(epochs=3, batch_size=100, whiten_bias_epochs=whiten_epochs, tta_level=0)
        optimizer = fc.make_optimizer(net, recipe)
        scheduler = fc.make_scheduler(optimizer, total_steps=12, whiten_bias_steps=4 * whiten_epochs,
                                      recipe=recipe)
        lrs = [[g["lr"] for g in optimizer.param_groups]]
        for _ in range(12):
            optimizer.step()
            scheduler.step()
            lrs.append([g["lr"] for g in optimizer.param_groups])
        lrs = np.array(lrs)
        assert (lrs[:4 * whiten_epochs, 2] == lrs[:4 * whiten_epochs, 1]).all()
        assert (lrs[4 * whiten_epochs:, 2] == 0).all() and (lrs[:, 1] > 0).all()
        net = fc.make_fast_net(widths=(8, 16, 16))
        fc.train_fast(net, x[:300], y[:300], x[300:], y[300:], recipe, seed=0, verbose=False)
        assert net.whiten.bias.requires_grad
        assert (net.whiten.bias.abs().sum() > 0) == (whiten_epochs > 0)   # init_whitening zeroes it


def test_compiled_training_compiles_the_net_once(digits32_rgb, monkeypatch):
    """Evaluation (no_grad, TTA views, a short last batch) and freezing the whitening bias
    must not make torch.compile compile the net again."""
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend=counting_backend))
    torch._dynamo.reset()
    x, y = fc.images_to_tensor(digits32_rgb[0][:500, ::2, ::2], digits32_rgb[1][:500], "cpu")
    recipe = fc.Recipe(epochs=3, batch_size=100, whiten_bias_epochs=1, tta_level=2, compile=True,
                       eval_batch_size=150)
    result = fc.train_fast(fc.make_fast_net(widths=(8, 16, 16)), x[:300], y[:300], x[300:], y[300:],
                           recipe, seed=0, verbose=False)
    torch._dynamo.reset()
    assert result["steps"] == 9
    assert len(graphs) == 1, f"{len(graphs)} 回コンパイルされました"


def test_run_seeds_repeats_each_seed_on_its_own(digits32_rgb):
    x, y = fc.images_to_tensor(digits32_rgb[0][:400, ::2, ::2], digits32_rgb[1][:400], "cpu")
    recipe = fc.Recipe(epochs=2, batch_size=100, tta_level=0)

    def make_net():
        return fc.make_fast_net(widths=(8, 16, 16))

    both = fc.run_seeds(make_net, x[:300], y[:300], x[300:], y[300:], recipe, seeds=[0, 1])
    torch.rand(5)                                               # other random draws in between
    alone = fc.run_seeds(make_net, x[:300], y[:300], x[300:], y[300:], recipe, seeds=[1])
    assert np.array_equal(both[1]["history"], alone[0]["history"])
    assert both[1]["accuracy"] == alone[0]["accuracy"]
    assert not np.array_equal(both[0]["history"], both[1]["history"])


def test_tta_shapes_and_mirror_invariance(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:8], digits32_rgb[1][:8], "cpu")
    net = fc.make_fast_net(widths=(8, 16, 16)).eval()
    for level in (0, 1, 2):
        assert fc.predict_tta(net, x, level).shape == (8, 10)
    # with mirror averaging, an image and its mirror image get the same prediction
    assert torch.allclose(fc.predict_tta(net, x, 1), fc.predict_tta(net, x.flip(3), 1), atol=1e-5)


def test_channels_last_layout_gives_the_same_outputs(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:16], digits32_rgb[1][:16], "cpu")
    torch.manual_seed(0)
    reference = fc.make_fast_net(widths=(8, 16, 16)).eval()
    fast = fc.make_fast_net(widths=(8, 16, 16)).eval()
    fast.load_state_dict(reference.state_dict())
    net, model = fc.prepare_model(fast, "cpu", fc.Recipe(channels_last=True))
    assert net.groups[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not net.groups[0].conv1.weight.is_contiguous()
    batch = fc.to_model_layout(x, fc.Recipe(channels_last=True))
    assert batch.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.allclose(model(batch), reference(x), atol=1e-5)
    plain, _ = fc.prepare_model(fc.make_fast_net(widths=(8, 16, 16)), "cpu",
                           fc.Recipe(channels_last=False))
    assert plain.groups[0].conv1.weight.is_contiguous()


def test_a_short_training_learns_digits(digits32_rgb):
    images, labels = digits32_rgb
    x, y = fc.images_to_tensor(images[:, ::2, ::2], labels, "cpu")     # 16x16: 4x cheaper
    recipe = fc.Recipe(epochs=8, batch_size=100, tta_level=1)
    net = fc.make_fast_net(widths=(8, 16, 16))
    result = fc.train_fast(net, x[:1000], y[:1000], x[1000:], y[1000:], recipe, seed=0,
                           verbose=False)
    history = result["history"]
    assert history.shape == (8, 3)
    assert history[-1, 1] < history[0, 1]                       # training loss went down
    assert result["accuracy"] > 0.3                             # chance: 0.1
    assert result["steps"] == 1000 // 100 * 8
    assert result["seconds"] > 0
    with pytest.raises(ValueError):
        fc.train_fast(net, x[:10], y[:10], x[:10], y[:10], recipe, verbose=False)
