"""A seconds-long training run of the built-in model at test sizes: the code runs, the loss falls, the run resumes
exactly after an interruption, and the exported checkpoint loads through the product's loader."""
import csv
import shutil

import pytest

torch = pytest.importorskip("torch")

from nodes.demo import train  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("tiny_run")
    assert train.cli(["--out", str(out), "--preset", "tiny", "--threads", "1"]) == 0
    return out


def _losses(path):
    with open(path) as f:
        return [(int(row[0]), row[1], row[2]) for row in csv.reader(f)]


def test_training_writes_everything_and_the_loss_falls(tiny_run):
    for name in ("vae/config.json", "latents.pt", "state.pt", "samples/latest.png", "final/unet/config.json",
                 "final/text_encoder/config.json", "vae_report.json", "nodeflow_shapes.safetensors"):
        assert (tiny_run / name).exists(), name
    losses = [float(loss) for _, loss, _ in _losses(tiny_run / "loss.csv")]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_vae_latents_have_sd1_scale(tiny_run):
    import json

    report = json.loads((tiny_run / "vae_report.json").read_text())
    assert report["latent_std_after_scaling"] == pytest.approx(1.0, rel=0.05)


def test_an_interrupted_run_resumes_exactly(tiny_run, tmp_path, monkeypatch):
    # Reuse the finished run's VAE and latent cache; only the UNet phase is interrupted and resumed.
    for name in ("run.json", "vae", "latents.pt"):
        src = tiny_run / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    log_row = train.Run._log_row

    def interrupt_at_step_15(self, name, step, *rest):
        if name == "loss.csv" and step == 15:
            raise KeyboardInterrupt
        log_row(self, name, step, *rest)

    monkeypatch.setattr(train.Run, "_log_row", interrupt_at_step_15)
    assert train.cli(["--out", str(tmp_path), "--preset", "tiny", "--threads", "1"]) == 130
    monkeypatch.setattr(train.Run, "_log_row", log_row)
    assert train.cli(["--out", str(tmp_path), "--preset", "tiny", "--threads", "1"]) == 0
    strip_time = lambda rows: [r[:3] for r in rows]  # noqa: E731
    assert strip_time(_losses(tmp_path / "loss.csv")) == strip_time(_losses(tiny_run / "loss.csv"))


def test_other_settings_in_the_same_folder_are_refused(tiny_run):
    with pytest.raises(SystemExit):
        train.cli(["--out", str(tiny_run), "--preset", "tiny", "--seed", "5"])


def test_exported_checkpoint_loads_as_sd1(tiny_run):
    from nodes.diffusion.models.loading import load_checkpoint

    loaded = load_checkpoint(tiny_run / "nodeflow_shapes.safetensors")
    assert loaded.family == "sd1" and loaded.prediction_type == "epsilon"
    assert loaded.vae_scale_factor == pytest.approx(0.18215)
    image = loaded.vae_model.decode(torch.zeros(1, 4, 8, 8))
    assert tuple(image.shape) == (1, 64, 64, 3)
