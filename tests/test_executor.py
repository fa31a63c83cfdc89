"""The main job's machinery: suites, cells side by side, held-out columns on split `all`."""

import numpy as np
import pytest

from bench.api.codec import RunContext
from bench.api.registry import config_label, create_codec, get_entry, list_codecs
from bench.api.suites import FULL_SUITE_ONLY, SUITES, get_suite
from bench.errors import CodecError
from bench.run import artifacts
from bench.run.cell import plan
from bench.run.executor import LocalExecutor, ProcessExecutor, _rows_of_dead_workers, group_by_codec
from bench.run.runner import run


def test_the_main_suite_runs_every_codec_with_registered_configurations():
    main = get_suite("main").resolve()
    # Every family the bench has, but those too slow for one sitting (each with its reason).
    assert {name for name, _ in main} == set(list_codecs()) - set(FULL_SUITE_ONLY)
    assert set(FULL_SUITE_ONLY) <= set(list_codecs())
    assert all(params in get_entry(name).configs for name, params in main)  # same cell keys as `full`
    assert len(main) == len({(n, tuple(sorted(p.items()))) for n, p in main})  # no configuration twice
    full = SUITES["full"].resolve()
    assert len(full) == sum(len(get_entry(n).configs) for n in list_codecs()) > len(main)
    per_family = {}
    for name, _ in main:
        per_family[name] = per_family.get(name, 0) + 1
    for lossy in ("conv-ae", "pca-cnn", "pca", "webp-lossy", "jpeg"):
        assert per_family[lossy] >= 3, f"{lossy} needs enough points to draw its curve"
    assert per_family["hyperprior"] == 1  # its slower rates left the main job for the seeds' time


def test_the_main_suite_runs_every_dataset_codec_under_three_seeds():
    suite = get_suite("main")
    seeding = suite.seeding(run_seed=5)
    labels = {config_label(name, params): name for name, params in suite.resolve()}
    assert set(seeding) <= set(labels)
    ctx = RunContext(profile="smoke")
    dataset = {label for label, name in labels.items() if create_codec(name, ctx).kind == "dataset"}
    assert dataset <= set(seeding) and len(dataset) == 14
    assert {seeded.seeds for seeded in seeding.values()} == {(5, 6, 7)}  # from the run's seed on
    # A model trained for minutes is trained once: only its judge's seed varies.
    judged = {label for label, seeded in seeding.items() if seeded.judge_only}
    assert judged == {"lgc", "distilled", "distilled:images_per_class=1", "conv-ae:latent_dims=39"}
    assert len(plan(suite.resolve(), "test", 20, 1, RunContext(profile="smoke"), seeding)) == len(labels) + 2 * len(seeding)


def test_an_unknown_suite_is_a_one_line_error():
    with pytest.raises(CodecError, match="unknown suite 'nope'; valid suites: main, full"):
        get_suite("nope")


def _configs():
    return [("gzip", {"framing": "whole"}), ("raw", {"framing": "whole"}), ("raw", {"framing": "per-image"}),
            ("bz2", {"framing": "whole"}), ("lzma", {"framing": "whole"})]


def test_cells_side_by_side_give_the_rows_one_after_another_give(tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    # 2,000 images: every codec's cells take long enough (lzma about a second) that the second worker
    # has started before the first has taken every group.
    cells = plan(_configs(), "test", 2000, 1, ctx)
    alone = {row["cell_key"]: row for row in LocalExecutor().run(cells, ctx)}
    beside = {row["cell_key"]: row for row in ProcessExecutor(jobs=2, poll_s=0.2).run(cells, ctx)}
    assert beside.keys() == alone.keys() == {cell.key for cell in cells}
    for key, row in beside.items():
        assert row["status"] == "ok" and row["payload_bytes"] == alone[key]["payload_bytes"]
        assert row["concurrent_cells"] in (1, 2) and alone[key]["concurrent_cells"] == 1
    assert max(row["concurrent_cells"] for row in beside.values()) == 2  # they did run at once


def test_a_run_lists_rows_in_plan_order_whatever_order_they_finish_in(tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    store = run(_configs(), split="test", limit=100, repeat=1, ctx=ctx, out_dir=tmp_path / "out", resume=False,
                echo=lambda line: None, executor=ProcessExecutor(jobs=2, poll_s=0.2))
    assert store.table()["config"].tolist() == ["gzip", "raw", "raw:framing=per-image", "bz2", "lzma"]


def test_cells_of_one_codec_stay_together_in_suite_order():
    ctx = RunContext(profile="smoke")
    cells = plan([("raw", {"framing": "whole"}), ("gzip", {"framing": "whole"}), ("raw", {"framing": "per-image"})],
                 "test", 10, 1, ctx)
    assert [[c.label for c in group] for group in group_by_codec(cells)] == [["raw", "raw:framing=per-image"], ["gzip"]]


def test_configurations_with_models_of_their_own_are_groups_of_their_own():
    ctx = RunContext(profile="smoke")
    cells = plan([("hyperprior", {"lam": 0.001}), ("hyperprior", {"lam": 0.002}), ("conv-ae", {"step": 1.0}),
                  ("hyperprior", {"lam": 0.001, "mean": False}), ("conv-ae", {"step": 2.0})], "test", 10, 1, ctx)
    assert [[c.label for c in group] for group in group_by_codec(cells)] == [
        ["hyperprior:lam=0.001"], ["hyperprior:lam=0.002"], ["conv-ae", "conv-ae:step=2.0"],
        ["hyperprior:lam=0.001,mean=False"]]


class _DeadProcess:
    exitcode = -9

    @staticmethod
    def is_alive():
        return False


def test_a_worker_that_dies_fails_its_codecs_cells_with_the_reason():
    ctx = RunContext(profile="smoke")
    cells = plan(_configs()[:3], "test", 10, 1, ctx)
    groups = group_by_codec(cells)
    pending = {cell.key: cell for cell in cells}
    rows = list(_rows_of_dead_workers({0: _DeadProcess()}, set(), {0: 1}, {}, groups, pending, ctx))
    assert [row["config"] for row in rows] == ["raw", "raw:framing=per-image", "gzip"]  # its group, then the rest
    assert all(row["status"] == "failed" for row in rows) and not pending
    assert rows[0]["error"] == "worker process died (exit code -9) while running this codec's cells"
    assert rows[2]["error"] == "no worker process was left to run this cell"


def test_every_image_codec_on_split_all_also_codes_the_test_images_alone(tmp_path, monkeypatch):
    # Split `all` is train then test; a 600-image slice with the test part starting at 500 stands in.
    monkeypatch.setattr(artifacts, "TEST_START_IN_ALL", 500)
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    configs = [("pca", {"components": 256, "step": 0.25}), ("gzip", {"framing": "whole"})]
    store = run(configs, split="all", limit=600, repeat=1, ctx=ctx, out_dir=tmp_path / "out", resume=False,
                echo=lambda line: None, executor=LocalExecutor())
    table = store.table().set_index("codec")
    pca, gzip = table.loc["pca"], table.loc["gzip"]
    from bench.api.registry import create_codec

    codec = create_codec("pca", ctx, components=256, step=0.25)
    codec.fit(ctx.split("train"))
    test = ctx.split("all", 600).images[500:]
    assert pca["test_payload_bytes"] == len(codec.compress(test))  # the test images coded on their own
    assert pca["test_bpp"] == pytest.approx(8 * pca["test_payload_bytes"] / test.size)
    decoded = codec.decompress(codec.compress(test))
    assert pca["test_mse"] == pytest.approx(np.mean((test / 255.0 - decoded / 255.0) ** 2))
    assert pca["container_n_images"] == 100  # the containers of the same held-out images
    # A classical codec codes the same test images alone too, so every codec is compared on one set.
    import gzip as gzip_module

    from bench.data.idx import to_idx

    assert gzip["test_payload_bytes"] == len(gzip_module.compress(to_idx(test), 9, mtime=0))
    assert gzip["test_bpp"] == pytest.approx(8 * gzip["test_payload_bytes"] / test.size)


def test_a_lossless_learned_codec_gives_held_out_figures_too(tmp_path, monkeypatch, temporary_codecs):
    from bench import ImageCodec, register_codec

    @register_codec("test-learned-raw")
    class LearnedRaw(ImageCodec):
        """Stores the pixels; 'learns' nothing, but overrides fit as learned codecs do."""

        def fit(self, train):
            self.model_bytes = 1

        def compress(self, images):
            return images.tobytes()

        def decompress(self, data):
            return np.frombuffer(data, np.uint8).reshape(-1, 28, 28)

    monkeypatch.setattr(artifacts, "TEST_START_IN_ALL", 50)
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    store = run([("test-learned-raw", {})], split="all", limit=80, repeat=1, ctx=ctx, out_dir=tmp_path / "out",
                resume=False, echo=lambda line: None, executor=LocalExecutor())
    row = store.table().iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["test_payload_bytes"] == 30 * 784 and row["test_bpp"] == 8.0
    assert row["test_mse"] == 0 and row["test_psnr"] == float("inf")
