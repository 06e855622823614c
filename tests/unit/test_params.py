"""Parameter spaces and samplers: names and bounds checked in one place."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.envs.params import FixedSampler, Param, ParamSpace, UniformSampler, make_sampler
from simrl.errors import EnvError

SPACE = ParamSpace((Param("mass", 1.0, 0.1, 2.0), Param("length", 1.0, 0.5, 1.5)), env_id="test")


def test_make_fills_defaults_and_is_frozen():
    p = SPACE.make({"mass": "1.5"})
    assert dict(p) == {"mass": 1.5, "length": 1.0}
    np.testing.assert_array_equal(p.vector, [1.5, 1.0])
    with pytest.raises(TypeError):
        p["mass"] = 2.0  # type: ignore[index]
    assert SPACE.from_vector(p.vector) == p


@pytest.mark.parametrize(
    "values", [{"mass": 3.0}, {"mass": 0.0}, {"mass": "x"}, {"mass": float("nan")}, {"colour": 1.0}]
)
def test_make_rejects_bad_values_and_names(values):
    with pytest.raises(EnvError):
        SPACE.make(values)


def test_bounds_are_inclusive():
    assert SPACE.make({"mass": 0.1, "length": 1.5})["length"] == 1.5


def test_uniform_sampler_draws_within_the_box_and_fixes_the_rest():
    sampler = make_sampler(SPACE, {"length": 0.7}, {"mass": (0.5, 1.0)})
    assert isinstance(sampler, UniformSampler)
    draws = sampler.sample(1000, np.random.default_rng(0))
    assert draws.shape == (1000, 2)
    assert np.all(draws[:, 1] == 0.7)
    assert draws[:, 0].min() >= 0.5 and draws[:, 0].max() <= 1.0
    assert draws[:, 0].std() > 0.1  # actually spread over the box
    again = sampler.sample(1000, np.random.default_rng(0))
    np.testing.assert_array_equal(draws, again)


def test_fixed_sampler_repeats_one_vector():
    sampler = make_sampler(SPACE, {"mass": 2.0})
    assert isinstance(sampler, FixedSampler)
    np.testing.assert_array_equal(sampler.sample(3, np.random.default_rng(0)), [[2.0, 1.0]] * 3)


@pytest.mark.parametrize(
    ("params", "randomize"),
    [
        (None, {"mass": (1.5, 0.5)}),  # low > high
        (None, {"mass": (0.5, 5.0)}),  # beyond the bounds
        (None, {"colour": (0.0, 1.0)}),  # unknown
        ({"mass": 1.0}, {"mass": (0.5, 1.0)}),  # fixed and randomized at once
    ],
)
def test_bad_randomization(params, randomize):
    with pytest.raises(EnvError):
        make_sampler(SPACE, params, randomize)


def test_empirical_sampler_draws_rows_of_the_bank():
    bank = np.array([[0.2, 0.6], [1.8, 1.4]])
    sampler = make_sampler(SPACE, None, None, (("mass", "length"), bank))
    draws = sampler.sample(500, np.random.default_rng(0))
    rows = {tuple(r) for r in draws}
    assert rows == {(0.2, 0.6), (1.8, 1.4)}
    np.testing.assert_array_equal(draws, sampler.sample(500, np.random.default_rng(0)))


@pytest.mark.parametrize(
    ("names", "bank"),
    [
        (("mass",), np.array([[3.0]])),  # out of bounds
        (("colour",), np.array([[1.0]])),  # unknown
        (("mass", "mass"), np.array([[1.0, 1.0]])),  # twice
        (("mass",), np.zeros((0, 1))),  # empty
        (("mass",), np.array([[1.0, 1.0]])),  # wrong width
    ],
)
def test_bad_sample_banks(names, bank):
    with pytest.raises(EnvError):
        make_sampler(SPACE, None, None, (names, bank))


def test_batched_pendulum_draws_from_a_bank_per_episode(tmp_path):
    from simrl.envs import make_vec_env

    bank = np.array([[0.5, 0.7], [1.5, 1.2]])
    venv = make_vec_env("simrl/Pendulum-v0", 64, seed=1, samples=(("mass", "length"), bank))
    venv.reset()
    params = venv.params
    assert {tuple(r) for r in params[:, :2]} == {(0.5, 0.7), (1.5, 1.2)}
    assert np.all(params[:, 2] == 10.0)
