"""Write failures (issue 10, item 7) say what could not be written where and why, with no traceback; the report
lists what was written before the failure; a --report that cannot be written does not hide the finished runs."""
from __future__ import annotations

import errno
import json

import pytest
from PIL import Image

from nodeflow.cli.main import main
from nodeflow.formats import atomic


def save_workflow(tmp_path, settings, batch_from_two_images=True):
    Image.new("RGB", (4, 4), "red").save(settings.input_dir / "pic.png")
    nodes = [{"id": 1, "type": "LoadImage", "values": {"image": "pic.png"}},
             {"id": 2, "type": "SaveImage", "values": {"filename_prefix": "shot"}},
             {"id": 3, "type": "SaveImage", "values": {"filename_prefix": "again"}}]
    links = [{"id": 1, "from": [1, "IMAGE"], "to": [2, "images"]}, {"id": 2, "from": [1, "IMAGE"], "to": [3, "images"]}]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"format": "nodeflow.workflow", "version": 1, "nodes": nodes, "links": links}))
    return str(path)


def args(settings, *more):
    return ["--input", str(settings.input_dir), "--out", str(settings.output_dir), *more]


def test_report_to_an_unwritable_place_after_the_run(tmp_path, settings, capsys):
    f = save_workflow(tmp_path, settings)
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["run", f, *args(settings, "-q", "--report", str(tmp_path / "taken" / "r.json"))]) == 1
    err = capsys.readouterr().err
    assert "--report: cannot write" in err and "taken/r.json" in err and "not a folder" in err
    assert "the runs finished; they wrote 2 file(s)" in err and "shot_00001_.png" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["folder", "inside a file"])
def test_convert_to_an_unwritable_output(tmp_path, settings, capsys, where):
    src = save_workflow(tmp_path, settings)
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "file").write_text("")
    dst = tmp_path / "dir.json" if where == "folder" else tmp_path / "file" / "out.json"
    assert main(["convert", src, "-o", str(dst)]) == 2
    err = capsys.readouterr().err
    assert str(dst) in err and ("is a folder" in err or "not a folder" in err) and "Traceback" not in err


def failing_after(n: int, err: int, monkeypatch, folder):
    """The file system refuses every write into ``folder`` after the first ``n`` (a disk filling up, a folder
    made read-only; simulated: the tests run as root, whom permissions do not stop)."""
    real, calls = atomic._write_temp, []

    def write_temp(*a, **kw):
        if a[0] != folder:
            return real(*a, **kw)
        calls.append(a)
        if len(calls) > n:
            raise OSError(err, "simulated")
        return real(*a, **kw)

    monkeypatch.setattr(atomic, "_write_temp", write_temp)


@pytest.mark.parametrize("err, why", [(errno.ENOSPC, "the disk is full"),
                                      (errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")])
def test_save_image_on_a_full_or_read_only_disk(tmp_path, settings, capsys, monkeypatch, err, why):
    f = save_workflow(tmp_path, settings)
    failing_after(1, err, monkeypatch, settings.output_dir)
    report = tmp_path / "report.json"
    assert main(["run", f, *args(settings, "--report", str(report))]) == 1
    out = capsys.readouterr()
    assert "[filename_prefix]: cannot write" in out.out and why in out.out and "0 of 1 image(s) were saved" in out.out
    assert str(settings.output_dir) in out.out and "Traceback" not in out.out + out.err
    (run,) = json.loads(report.read_text())["runs"]
    (written,) = run["outputs"]  # the first Save Image's picture, written before the disk filled
    assert written.endswith("_00001_.png") and (settings.output_dir / written.rsplit("/", 1)[1]).exists()
    (error,) = run["errors"]
    assert error["field"] == "filename_prefix" and why in error["message"]


def test_a_batch_cut_short_keeps_the_images_written(tmp_path, settings, monkeypatch):
    from nodes.diffusion import nodes_image
    from tests.diffusion.tiny_models import make_context

    import torch

    failing_after(2, errno.ENOSPC, monkeypatch, settings.output_dir)
    ctx = make_context(settings, node_type="SaveImage")
    with pytest.raises(Exception) as e:
        nodes_image.save_image.fn(ctx, torch.rand(3, 4, 4, 3), "batch")
    assert e.value.field == "filename_prefix" and "2 of 3 image(s) were saved" in str(e.value)
    assert [p.rsplit("/", 1)[1] for p in ctx.files] == ["batch_00001_.png", "batch_00002_.png"]
