"""What each column of a results row means: the source of docs/schema.md.

    python -m bench.run.schema > docs/schema.md

`tests/test_docs_figures.py` checks that the committed page is this module's output and that every
guaranteed column (`results.COLUMNS`) is described, so the page cannot fall behind the code.
"""

from __future__ import annotations

from bench.run.results import COLUMNS

#: The guaranteed columns, in `COLUMNS` order.
GUARANTEED = {
    "codec": "registered codec name",
    "config": "the configuration's label: the codec and the parameters that differ from its defaults",
    "kind": "`lossless`, `lossy` or `dataset`",
    "family": "the report's family (a codec, or a codec in one framing)",
    "roles": "report roles the configuration plays (e.g. the write-up's setting), comma-separated",
    "params": "every parameter, defaults filled in, as JSON",
    "split": "`train`, `test` or `all` (the 70,000 images)",
    "n_images": "images coded (dataset codecs: the images summarised)",
    "repetition": "0.. for `--repeat N`",
    "raw_bytes": "the images as uint8 pixels (784 bytes each)",
    "payload_bytes": "`len(bytes)` of the stream that was decoded",
    "model_bytes": "bytes of weights or tables a decoder needs besides the payload",
    "total_bytes": "payload_bytes + model_bytes",
    "bpp": "8 * payload_bytes / pixels",
    "ratio": "raw_bytes / payload_bytes",
    "mse": "mean squared error on a [0, 1] pixel scale, against the 8-bit originals",
    "psnr": "10 log10(1 / mse), dB",
    "lossless_ok": "the decode equals the reference image by image (the images, or `exact_source`'s transform)",
    "accuracy": "the judge's test accuracy after training on the decoded train data (a fraction)",
    "fit_s": "training seconds (0 when loaded from the model cache)",
    "enc_s": "encode seconds", "dec_s": "decode seconds",
    "wall_s": "the cell's seconds, harness and judge included",
    "images_per_s": "n_images / (enc_s + dec_s)",
    "enc_images_per_s": "n_images / enc_s", "dec_images_per_s": "n_images / dec_s",
    "device": "the device the codec ran on (`cpu`, `cuda`)",
    "device_name": "that device's model",
    "profile": "training budget: `smoke`, `default` or `full`",
    "seed": "the seed the codec trained and selected under: the run's `--seed`, or one of `--seeds`",
    "judge_seed": "the seed the judge trained under: `seed`, or one of a suite's judge-only seeds",
    "torch_version": "torch of the run",
    "git_sha": "commit of the code (`-dirty` when the tree had changes)",
    "started_at": "when the cell started (UTC, ISO 8601)",
    "command": "the command line of the run",
    "run_id": "the run the row belongs to (a resumed run keeps its id): the report never mixes runs in a figure",
    "cell_key": "content key of the cell (`--resume` skips finished keys)",
    "status": "`ok`, `failed` or `skipped` (a codec this machine cannot run)",
    "error": "a failed or skipped cell's one-line reason",
}

#: Columns most rows carry beside them (a codec may add its own: ideal code length, nominal ratio, ...).
COMMON = {
    "approach": "`neural` or `classical`: the side the verdict counts the codec on",
    "node": "the machine that ran the cell",
    "concurrent_cells": "how many cells ran at once while this one ran",
    "exact_source": "for a lossy codec exact on a fixed transform of the images, that transform",
    "test_payload_bytes": "split `all`: the 10,000 test images coded alone (the headline figures)",
    "test_bpp": "bits/pixel of those", "test_mse": "their MSE", "test_psnr": "their PSNR",
    "test_psnr_image_mean": "the mean of their per-image PSNRs",
    "test_n_images": "10,000", "held_out_s": "seconds the held-out coding took (harness time)",
    "psnr_image_mean": "the mean of the per-image PSNRs",
    "mse_digit0": "MSE of the images of digit 0 (and so on to mse_digit9)",
    "classifier_train_s": "seconds the judge trained (0 when its score was cached)",
    "classifier_cached": "the judge's score came from the cache of a training set seen before",
    "classifier_protocol": "the judge's recipe",
    "n_decoded": "images a dataset codec's stream decoded to",
    "gzip_bytes": "gzip -9 of the summarised images (dataset codecs)",
    "ratio_vs_gzip": "gzip_bytes / payload_bytes",
    "components_per_class": "lgc: mixture components BIC chose per class",
}


def schema_markdown() -> str:
    def table(columns: dict) -> list[str]:
        return ["| column | meaning |", "|---|---|", *(f"| `{name}` | {text} |" for name, text in columns.items())]

    return "\n".join([
        "# What a row holds",
        "",
        "One row per cell (codec configuration x split x repetition) in `DIR/results.csv` and",
        "`results.parquet`. Generated from the code (`python -m bench.run.schema > docs/schema.md`).",
        "",
        "## Every row",
        "",
        *table({name: GUARANTEED[name] for name in COLUMNS}),
        "",
        "## Most rows",
        "",
        *table(COMMON),
        "",
    ])


if __name__ == "__main__":
    print(schema_markdown(), end="")
