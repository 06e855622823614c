"""BoxPrior: the pendulum default, bounds checked against the env, sampling, sbi's BoxUniform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simrl.errors import ConfigError, EnvError
from simrl.inference.prior import BoxPrior

PENDULUM = "simrl/Pendulum-v0"


def test_pendulum_default_is_the_bayessim_demo_box():
    prior = BoxPrior.for_env(PENDULUM)
    assert prior.names == ("mass", "length")
    np.testing.assert_array_equal(prior.low, [0.1, 0.1])
    np.testing.assert_array_equal(prior.high, [2.0, 2.0])
    assert prior == BoxPrior.from_json(prior.to_json())


def test_bounds_and_names_are_checked_against_the_env():
    with pytest.raises(EnvError, match="outside its bounds"):
        BoxPrior.for_env(PENDULUM, bounds={"mass": (0.01, 2.0)})  # ParamSpace: mass >= 0.05
    with pytest.raises(EnvError, match="unknown parameter 'friction'"):
        BoxPrior.for_env(PENDULUM, names=("friction",))
    with pytest.raises(ConfigError, match=r"prior range for 'mass' is \[1, 1\]"):
        BoxPrior.for_env(PENDULUM, bounds={"mass": (1.0, 1.0)})
    with pytest.raises(ConfigError, match="not inferred"):
        BoxPrior.for_env(PENDULUM, names=("mass",), bounds={"length": (0.5, 1.0)})
    with pytest.raises(EnvError, match="unknown environment"):
        BoxPrior.for_env("simrl/Nope-v0")
    # Names from the bounds; the env's full range where no default exists.
    prior = BoxPrior.for_env(PENDULUM, names=("gravity", "mass"), bounds={"mass": (0.5, 1.5)})
    assert prior.names == ("gravity", "mass")
    np.testing.assert_array_equal(prior.low, [0.0, 0.5])
    np.testing.assert_array_equal(prior.high, [30.0, 1.5])


def test_sample_contains_and_sbi_box_agree():
    prior = BoxPrior.for_env(PENDULUM)
    theta = prior.sample(1000, np.random.default_rng(0))
    assert theta.shape == (1000, 2) and prior.contains(theta).all()
    np.testing.assert_array_equal(prior.contains(np.array([[0.05, 1.0], [1.0, 2.0], [2.1, 1.0]])), [False, True, False])
    box = prior.to_sbi()
    lp = box.log_prob(torch.tensor(theta[:5], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(lp, prior.log_prob(theta[:5]), rtol=1e-6)


def test_vector_checks_true_parameters_against_the_box():
    prior = BoxPrior.for_env(PENDULUM)
    np.testing.assert_array_equal(prior.vector({"length": 0.8, "mass": 1.3}), [1.3, 0.8])
    with pytest.raises(EnvError, match="outside the prior box"):
        prior.vector({"mass": 2.5, "length": 0.8})
    with pytest.raises(EnvError, match="not an inferred parameter"):
        prior.vector({"mass": 1.0, "length": 1.0, "gravity": 9.8})
    with pytest.raises(EnvError, match="no value"):
        prior.vector({"mass": 1.0})
