"""`bench` in-process: a bad option is one line on stderr and exit 2, before any work starts."""

from __future__ import annotations

import pytest

from bench import ImageCodec, register_codec
from bench.api import registry
from bench.cli import build_parser, main
from bench.data import mnist
from bench.run.results import load_table

MNIST_DIR = mnist._find(mnist.FILES["test"][0], mnist.search_dirs()).parent


def run(*args: str) -> int:
    return main(["run", "--split", "test", "--limit", "20", "--no-report", *args])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def earlier_run(tmp_path):
    """An --out folder holding one finished row, and a snapshot of its files."""
    out = tmp_path / "out"
    assert run("--codecs", "raw:framing=whole", "--out", str(out)) == 0
    return out, {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def assert_untouched(earlier):
    out, files = earlier
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    taken = tmp_path / "results.csv"
    taken.write_text("someone's table\n")
    assert run("--codecs", "gzip", "--out", str(taken)) == 2
    assert one_line_error(capsys) == f"bench: error: --out {taken}: is a file, not a results folder"
    assert run("--codecs", "gzip", "--out", str(taken / "sub")) == 2
    assert f"{taken} is a file" in one_line_error(capsys)
    assert taken.read_text() == "someone's table\n"


def test_missing_data_dir_is_refused_not_replaced(earlier_run, tmp_path, capsys, monkeypatch):
    out, _ = earlier_run
    capsys.readouterr()
    missing = tmp_path / "no-such-mnist"
    assert run("--codecs", "raw", "--out", str(out), "--data-dir", str(missing)) == 2
    assert one_line_error(capsys) == f"bench: error: MNIST folder {missing} (from --data-dir) does not exist"
    monkeypatch.setenv("MNIST_DIR", str(missing))
    assert run("--codecs", "raw", "--out", str(out)) == 2
    assert one_line_error(capsys) == f"bench: error: MNIST folder {missing} (from $MNIST_DIR) does not exist"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("--codecs", "raw", "--out", str(out), "--data-dir", str(empty)) == 2
    assert f"t10k-images-idx3-ubyte: not found in {empty} (from --data-dir" in one_line_error(capsys)
    assert_untouched(earlier_run)


def test_bad_requests_leave_an_existing_out_as_it_was(earlier_run, capsys):
    out, _ = earlier_run
    for args in (["--codecs", "no-such-codec"], ["--codecs", "gzip:level=99"], ["--device", "cuda"]):
        code = run(*args, "--out", str(out))
        if args[0] == "--device" and code == 0:
            continue  # a machine with a GPU runs it; that is not a bad request there
        assert code == 2, args
        one_line_error(capsys)
    assert_untouched(earlier_run)


def test_a_renamed_codec_is_a_one_line_error_naming_its_new_name(tmp_path, capsys):
    assert run("--codecs", "pixelcnn", "--out", str(tmp_path / "out")) == 2
    assert one_line_error(capsys) == "bench: error: codec 'pixelcnn' was renamed 'local-ar': ask for 'local-ar'"
    assert not (tmp_path / "out").exists()
    assert main(["list", "pixelcnn"]) == 2
    assert "codec 'pixelcnn' was renamed 'local-ar'" in one_line_error(capsys)


def test_a_new_run_keeps_the_earlier_rows(earlier_run):
    out, _ = earlier_run
    assert run("--codecs", "gzip:framing=whole", "--out", str(out), "--data-dir", str(MNIST_DIR)) == 0
    assert load_table(out)["config"].tolist() == ["raw", "gzip"]


@pytest.fixture
def exploding_codec(temporary_codecs):
    @register_codec("test-cli-explodes")
    class Explodes(ImageCodec):
        def compress(self, images):
            raise RuntimeError("encoder exploded")

    return "test-cli-explodes"


def test_verbose_prints_the_traceback_of_a_failing_cell(exploding_codec, tmp_path, capsys):
    assert build_parser().parse_args(["run", "-v"]).verbose
    assert run("--codecs", exploding_codec, "--out", str(tmp_path / "quiet")) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert run("--codecs", exploding_codec, "--out", str(tmp_path / "loud"), "--verbose") == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: encoder exploded" in err
    assert load_table(tmp_path / "loud")["error"].tolist() == ["RuntimeError: encoder exploded"]


@pytest.fixture
def broken_module(monkeypatch):
    registry._load_plugins()
    monkeypatch.setitem(registry._BROKEN, "bench_codecs.fake_broken",
                        registry.BrokenModule("bench_codecs.fake_broken", "ImportError: needs libfake"))


def test_list_names_broken_modules_and_fails(broken_module, capsys):
    assert main(["list", "gzip"]) == 1
    captured = capsys.readouterr()
    assert "gzip" in captured.out
    assert "bench_codecs.fake_broken BROKEN    failed to import: ImportError: needs libfake" in captured.out
    assert captured.err.strip() == "bench: error: 1 codec module(s) failed to import: bench_codecs.fake_broken"


def test_run_of_a_broken_module_leaves_a_failed_row(broken_module, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("--codecs", "fake-broken,raw:framing=whole", "--out", str(out)) == 1
    assert "FAILED  module bench_codecs.fake_broken failed to import: ImportError: needs libfake" in (
        capsys.readouterr().out)
    table = load_table(out).set_index("codec")
    assert table.loc["fake-broken", "status"] == "failed"
    assert table.loc["fake-broken", "error"] == ("module bench_codecs.fake_broken failed to import: "
                                                  "ImportError: needs libfake")
    assert table.loc["raw", "status"] == "ok"
    # The report shows a run with such a row like any other failed cell.
    assert main(["report", str(out)]) == 0
    assert "fake-broken" in (out / "report.html").read_text()


@pytest.mark.parametrize("content", [b"hello world,foo\nthis is,garbage\nmore,text\n", bytes(range(256)) * 8,
                                     b"codec,config,split,status\ngzip,gzip,all,exploded\n"])
def test_report_of_a_file_that_is_not_a_results_table_is_one_line(tmp_path, capsys, content):
    table = tmp_path / "table.csv"
    table.write_bytes(content)
    assert main(["report", str(table)]) == 2
    assert "is not a results table" in one_line_error(capsys)
    assert not (tmp_path / "table.html").exists()


def test_ctrl_c_while_the_report_is_drawn_keeps_the_rows_and_says_how_to_draw_it(tmp_path, capsys, monkeypatch):
    from bench.report import render

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "render_report", interrupted)
    out = tmp_path / "out"
    assert main(["run", "--split", "test", "--limit", "20", "--codecs", "raw:framing=whole", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"interrupted while drawing the report: every row is kept in {out}; `bench report {out}` draws it")
    assert load_table(out)["status"].tolist() == ["ok"]
    assert main(["report", str(out)]) == 130  # still interrupted: one line, no traceback, no half page
    assert capsys.readouterr().err.strip().startswith("interrupted: no report written")
    assert not (out / "report.html").exists()
