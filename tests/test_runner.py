import json

import numpy as np
import pandas as pd
import pytest

from bench import DatasetCodec, ImageCodec, register_codec
from bench.cli import main
from bench.run.results import COLUMNS, load_table


def run_cli(*args) -> int:
    return main(["run", "--split", "test", *args])


def test_run_writes_tidy_csv_and_parquet(tmp_path):
    # smoke: the lossy row's accuracy trains the classifier with the smoke budget (seconds)
    assert run_cli("--codecs", "raw,gzip:framing=whole,webp-lossy:quality=50:framing=per-image", "--limit", "50",
                   "--profile", "smoke", "--out", str(tmp_path)) == 0
    table = load_table(tmp_path)
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    assert pd.read_csv(tmp_path / "results.csv")["config"].tolist() == table["config"].tolist()
    assert table["config"].tolist() == ["raw", "raw:framing=per-image", "gzip", "webp-lossy"]
    assert (table["status"] == "ok").all() and (table["n_images"] == 50).all()
    lossless = table[table["kind"] == "lossless"]
    assert lossless["lossless_ok"].all() and (lossless["mse"] == 0).all()
    assert np.allclose(table["bpp"], 8 * table["payload_bytes"] / (50 * 784))
    assert np.allclose(table["ratio"], table["raw_bytes"] / table["payload_bytes"])
    lossy = table[table["kind"] == "lossy"].iloc[0]
    assert not lossy["lossless_ok"] and 20 < lossy["psnr"] < 60
    assert 0 < lossy["accuracy"] <= 1 and lossy["train_roundtrip_s"] > 0  # trained on its own train-split output
    assert {f"mse_digit{d}" for d in range(10)} <= set(table.columns)
    assert table["device"].eq("cpu").all() and table["git_sha"].notna().all()


def test_unknown_codec_is_a_one_line_error(tmp_path, capsys):
    assert run_cli("--codecs", "gzip,nope", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: unknown codec 'nope'; valid names:") and "\n" not in err
    assert not (tmp_path / "results.csv").exists()


def test_bad_parameter_is_a_one_line_error(capsys):
    assert main(["run", "--codecs", "zstd:level=99"]) == 2
    assert "zstd level must be an integer in 1..22" in capsys.readouterr().err


@pytest.fixture
def flaky_codecs(temporary_codecs):
    @register_codec("test-broken")
    class Broken(ImageCodec):
        def compress(self, images):
            raise RuntimeError("encoder exploded\nsecond line")

    @register_codec("test-lossy-liar")
    class Liar(ImageCodec):
        """Claims to be lossless but flips a pixel of image 3."""

        def compress(self, images):
            return images.tobytes()

        def decompress(self, data):
            images = np.frombuffer(data, np.uint8).reshape(-1, 28, 28).copy()
            if len(images) > 3:
                images[3, 0, 0] ^= 1
            return images

    @register_codec("test-interrupt")
    class Interrupt(ImageCodec):
        calls = 0

        def compress(self, images):
            if len(images) > 16:  # let the warm-up pass
                raise KeyboardInterrupt
            return images.tobytes()

        def decompress(self, data):
            return np.frombuffer(data, np.uint8).reshape(-1, 28, 28)


def test_failed_codec_is_a_failed_row_and_the_run_goes_on(tmp_path, flaky_codecs):
    assert run_cli("--codecs", "test-broken,test-lossy-liar,gzip:framing=whole", "--limit", "20",
                   "--out", str(tmp_path)) == 1
    table = load_table(tmp_path).set_index("codec")
    assert table.loc["test-broken", "status"] == "failed"
    assert table.loc["test-broken", "error"] == "RuntimeError: encoder exploded"
    assert table.loc["test-lossy-liar", "status"] == "failed"
    assert table.loc["test-lossy-liar", "error"] == "lossless round trip differs on 1 of 20 images (first: image 3)"
    assert not table.loc["test-lossy-liar", "lossless_ok"]
    assert table.loc["gzip", "status"] == "ok"


def test_interrupted_run_keeps_rows_and_resumes(tmp_path, flaky_codecs, capsys):
    args = ["--limit", "20", "--out", str(tmp_path), "--jobs", "1"]  # one after another: bz2 never starts
    assert run_cli("--codecs", "gzip:framing=whole,test-interrupt,bz2:framing=whole", *args) == 130
    assert load_table(tmp_path)["codec"].tolist() == ["gzip"]
    capsys.readouterr()
    # The interrupting codec is left out of the second run; gzip is done and is skipped.
    assert run_cli("--codecs", "gzip:framing=whole,bz2:framing=whole", "--resume", *args) == 0
    assert "resumed: 1 finished cell(s) skipped" in capsys.readouterr().out
    assert load_table(tmp_path)["codec"].tolist() == ["gzip", "bz2"]
    lines = (tmp_path / "rows.jsonl").read_text().splitlines()
    assert [json.loads(line)["codec"] for line in lines] == ["gzip", "bz2"]


def test_failed_cells_are_not_skipped_on_resume(tmp_path, flaky_codecs):
    args = ["--codecs", "test-broken", "--limit", "20", "--out", str(tmp_path)]
    run_cli(*args)
    run_cli(*args, "--resume")
    assert load_table(tmp_path)["status"].tolist() == ["failed", "failed"]


def test_dataset_codec_path(tmp_path, temporary_codecs):
    @register_codec("test-every-tenth")
    class EveryTenth(DatasetCodec):
        def compress_dataset(self, images, labels):
            return images[::10].tobytes() + labels[::10].tobytes()

        def decompress_dataset(self, data):
            n = len(data) // 785
            return np.frombuffer(data[: n * 784], np.uint8).reshape(n, 28, 28), np.frombuffer(data[n * 784:], np.uint8)

    assert run_cli("--codecs", "test-every-tenth", "--limit", "100", "--out", str(tmp_path)) == 0
    row = load_table(tmp_path).iloc[0]
    assert row["kind"] == "dataset" and row["n_images"] == 100 and row["n_decoded"] == 10
    assert row["payload_bytes"] == 10 * 785 and row["raw_bytes"] == 100 * 784


def test_seeds_are_a_dimension_of_the_run_each_seed_a_cell_and_a_row(tmp_path, capsys):
    from bench.api.codec import RunContext, Seeding
    from bench.run.cell import plan

    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    once = plan([("random-subset", {"per_class": 1})], "test", 50, 1, ctx)
    seeded = plan([("random-subset", {"per_class": 1})], "test", 50, 1, ctx, Seeding((0, 1, 2)))
    judged = plan([("random-subset", {"per_class": 1})], "test", 50, 1, ctx, Seeding((0, 1, 2), judge_only=True))
    assert len(seeded) == 3 and len({cell.key for cell in seeded + judged}) == 5
    # The run's own seed is the cell a run without seeds made, whichever seeds vary.
    assert seeded[0].key == judged[0].key == once[0].key
    assert [(c.seed, c.judge_seed) for c in seeded + judged] == [(None, None), (1, None), (2, None),
                                                                 (None, None), (None, 1), (None, 2)]
    by_label = plan([("raw", {}), ("random-subset", {"per_class": 1})], "test", 50, 1, ctx,
                    {"random-subset:per_class=1": Seeding((0, 1, 2), judge_only=True)})
    assert [(c.codec, c.judge_seed) for c in by_label] == [("raw", None), ("random-subset", None),
                                                          ("random-subset", 1), ("random-subset", 2)]
    out = tmp_path / "out"
    # seed=0 pins the draw: only the judge's seed varies with --seeds.
    args = ["--codecs", "random-subset:per_class=1:seed=0,raw:framing=whole", "--limit", "50", "--profile", "smoke",
            "--seeds", "3", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-report"]
    assert run_cli(*args) == 0
    assert "under seeds 0,1,2" in capsys.readouterr().out
    table = load_table(out)
    assert sorted(zip(table["config"], table["seed"], strict=True)) == sorted(
        (config, seed) for config in ("random-subset:per_class=1,seed=0", "raw") for seed in (0, 1, 2))
    subset = table[table["codec"] == "random-subset"].set_index("seed")
    # The judge trains under each seed: not one accuracy copied three times (1 image a class is noisy).
    assert subset["accuracy"].nunique() > 1 and subset["payload_bytes"].nunique() == 1
    assert run_cli(*args, "--resume") == 0
    assert "resumed: 6 finished cell(s) skipped" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse's one line, before any work
        main(["run", "--codecs", "raw", "--seeds", "0,0", "--out", str(out)])
    assert refused.value.code == 2 and "distinct seeds" in capsys.readouterr().err


def test_judge_only_seeds_train_the_judge_again_and_keep_the_codecs_draw(tmp_path):
    from bench.api.codec import RunContext, Seeding
    from bench.run.runner import run

    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    store = run([("random-subset", {"per_class": 1})], split="test", limit=50, repeat=1, ctx=ctx,
                out_dir=tmp_path / "out", resume=False, echo=lambda line: None,
                seeding={"random-subset:per_class=1": Seeding((0, 1, 2), judge_only=True)})
    table = store.table()
    assert table["seed"].tolist() == [0, 0, 0] and table["judge_seed"].tolist() == [0, 1, 2]
    assert table["payload_bytes"].nunique() == 1  # one draw: the run's seed
    assert table["accuracy"].nunique() > 1  # three judges (1 image a class is noisy)
