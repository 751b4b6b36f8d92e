import numpy as np
import pytest
from PIL import Image

from nodes.demo import shapes
from nodes.demo.judge import judge, parse_prompt, score


def test_judge_scores_the_generators_pictures_perfectly():
    images, scenes = shapes.make_dataset(600, seed=11)
    result = score(images, [s.caption() for s in scenes])
    assert result["colour"] == result["background"] == result["shape"] == result["all"] == 1.0
    assert result["n"] == 600


def test_judge_accepts_image_tensors_and_pil_images():
    torch = pytest.importorskip("torch")
    images, scenes = shapes.make_dataset(8, seed=2)
    prompts = [s.caption() for s in scenes]
    as_tensor = torch.from_numpy(images).float() / 255  # the IMAGE socket type: [B, H, W, C] in 0..1
    assert score(as_tensor, prompts)["all"] == 1.0
    assert score([Image.fromarray(im) for im in images], prompts)["all"] == 1.0


def test_wrong_prompts_score_zero():
    images, _ = shapes.make_dataset(1, seed=0)
    v = judge(images[0])
    other = next(c for c in shapes.COLOURS if c not in (v.colour, v.background))
    kind = next(s for s in shapes.SHAPES if s != v.shape)
    result = score(images, [f"a {other} {kind} on a {other} background"])
    assert result["colour"] == result["background"] == result["shape"] == 0.0


def test_plain_background_has_no_shape():
    v = judge(np.full((64, 64, 3), shapes.COLOURS["green"], np.uint8))
    assert v.background == "green" and v.shape is None and v.colour is None


def test_parse_prompt():
    assert parse_prompt("a red circle on a blue background") == ("red", "circle", "blue")
    assert parse_prompt("Yellow square on black") == ("yellow", "square", "black")
    assert parse_prompt("a purple triangle") == ("purple", "triangle", None)
    with pytest.raises(ValueError):
        parse_prompt("a photo of a cat")


def test_prompts_without_background_are_left_out_of_the_background_score():
    images, scenes = shapes.make_dataset(2, seed=0)
    result = score(images, [f"a {s.colour} {s.shape}" for s in scenes])
    assert result["all"] == 1.0 and np.isnan(result["background"])
