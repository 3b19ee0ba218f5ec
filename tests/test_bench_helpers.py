"""Helpers of benchmarks/: the chapters' models taken from their notebooks, and the step timer."""

import pytest
import torch


def test_the_chapters_models_come_from_their_notebooks(load_benchmark):
    evidence = load_benchmark("evidence")
    cnn = evidence.notebook_class("ch09_cnn", "CNN")(10, 128)
    assert cnn(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert cnn.l1.in_features == 6272, "not chapter 9's CNN"
    v4 = evidence.notebook_class("ch10_dl_tuning", "CNN_v4")(10)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in v4.modules()) == 6
    with pytest.raises(LookupError, match="定義がありません"):
        evidence.notebook_class("ch09_cnn", "NoSuchNet")


def test_the_step_timer_times_each_cpu_variant_on_real_images(digits32_rgb, load_benchmark):
    bench = load_benchmark("bench_fit_speed")
    images, labels = digits32_rgb
    x = torch.tensor(images[:200]).permute(0, 3, 1, 2).float().div(255)
    batches = list(zip(x.split(50), torch.as_tensor(labels[:200]).split(50)))
    for variant in ("eager", "fast-kernels+channels_last"):
        ms = bench.milliseconds_per_step("CNN", variant, batches, warmup=1, steps=3, device="cpu")
        assert 0 < ms < 10_000


def test_the_fit_timer_times_fit_itself_on_real_images(digits32_rgb, load_benchmark):
    bench = load_benchmark("bench_fit_speed")
    images, labels = digits32_rgb
    x = torch.tensor(images[:240]).permute(0, 3, 1, 2).float().div(255)
    y = torch.as_tensor(labels[:240])
    for variant in ("host-batches", "device-batches+fast-kernels+channels_last"):
        timings = bench.fit_timings("CNN", variant, x, y, batch_size=50, epochs=1, device="cpu")
        assert 0 < timings["ms_per_step"] < 10_000 and timings["first_epoch_s"] > 0
    assert set(bench.FIT_VARIANTS[0].split("+")) == {"host-batches"}, "the baseline is what ch09/ch10 do"


def test_chapter_11_models_train_on_images_enlarged_to_112_pixels(digits32_rgb, load_benchmark):
    bench = load_benchmark("bench_fit_speed")
    x = torch.tensor(digits32_rgb[0][:24]).permute(0, 3, 1, 2).float().div(255)
    assert bench.sized_for("resnet18", x).shape == (24, 3, 112, 112)
    assert bench.sized_for("CNN", x) is x
    timings = bench.fit_timings("resnet18", "host-batches", x, torch.as_tensor(digits32_rgb[1][:24]),
                                batch_size=10, epochs=1, device="cpu")
    assert timings["ms_per_step"] > 0


def test_the_fit_profile_counts_cuda_calls_per_step_and_shows_where_the_time_goes(digits32_rgb, load_benchmark,
                                                                                  capsys):
    bench = load_benchmark("bench_fit_speed")
    images, labels = digits32_rgb
    x = torch.tensor(images[:240]).permute(0, 3, 1, 2).float().div(255)
    counts = bench.profile_fit("Linear", "device-batches", x, torch.as_tensor(labels[:240]), batch_size=50,
                               device="cpu")
    assert counts["ms_per_step_profiled"] > 0
    assert counts["launches_per_step"] == counts["waits_per_step"] == counts["copies_per_step"] == 0  # a CPU
    table = capsys.readouterr().out
    assert "aten::addmm" in table and "Linear device-batches" in table   # the linear model's forward


def test_a_record_names_its_commit_also_where_git_is_missing(load_benchmark, monkeypatch):
    evidence = load_benchmark("evidence")
    here = evidence.current_commit()
    assert len(here) >= 7 and here != "unknown"
    monkeypatch.setenv("PATH", "")                              # as on a machine without git
    monkeypatch.setenv("DLNB_COMMIT", "abc1234")
    assert evidence.current_commit() == "abc1234"
    monkeypatch.delenv("DLNB_COMMIT")
    assert evidence.current_commit() == "unknown"
