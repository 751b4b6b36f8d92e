import numpy as np

from nodes.demo import shapes


def test_same_seed_same_pictures_and_captions():
    a_images, a_scenes = shapes.make_dataset(50, seed=3)
    b_images, b_scenes = shapes.make_dataset(50, seed=3)
    assert np.array_equal(a_images, b_images)
    assert a_scenes == b_scenes
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert ([shapes.random_caption(rng_a, s.shape, s.colour, s.background) for s in a_scenes]
            == [shapes.random_caption(rng_b, s.shape, s.colour, s.background) for s in b_scenes])


def test_other_seed_other_pictures():
    a, _ = shapes.make_dataset(20, seed=3)
    b, _ = shapes.make_dataset(20, seed=4)
    assert not np.array_equal(a, b)


def test_vocabulary_and_variety():
    assert len(shapes.COLOURS) >= 6 and {"circle", "square", "triangle"} <= set(shapes.SHAPES)
    _, scenes = shapes.make_dataset(600, seed=0)
    assert {s.shape for s in scenes} == set(shapes.SHAPES)
    assert {s.colour for s in scenes} == set(shapes.COLOURS) == {s.background for s in scenes}
    assert all(s.colour != s.background for s in scenes)
    assert len({s.side for s in scenes}) > 10 and len({(s.left, s.top) for s in scenes}) > 100


def test_shape_keeps_clear_of_the_border():
    images, scenes = shapes.make_dataset(100, seed=5)
    for image, scene in zip(images, scenes):
        ring = np.concatenate([image[:2].reshape(-1, 3), image[-2:].reshape(-1, 3),
                               image[:, :2].reshape(-1, 3), image[:, -2:].reshape(-1, 3)])
        assert (ring == np.array(scene.background_rgb, np.uint8)).all()


def test_captions():
    scene = shapes.random_scene(np.random.default_rng(0), shape="circle", colour="red", background="blue")
    assert scene.caption() == "a red circle on a blue background"
    rng = np.random.default_rng(0)
    variants = {shapes.random_caption(rng, "circle", "red", "blue") for _ in range(300)}
    assert {"a red circle on a blue background", "red circle on blue", "a red circle"} <= variants
    assert all("red circle" in v for v in variants)
    assert set(shapes.all_captions()) >= variants


def test_evaluation_prompts_cover_every_combination():
    prompts = shapes.evaluation_prompts(168)
    n = len(shapes.SHAPES) * len(shapes.COLOURS) * (len(shapes.COLOURS) - 1)
    assert len(set(shapes.evaluation_prompts(n))) == n
    assert prompts == shapes.evaluation_prompts(168)
