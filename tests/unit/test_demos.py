"""Demonstrations: whole episodes with their boundaries and origin round-trip; a bad file is one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from simrl.data.demos import Demos, Source, collect, normalized_score
from simrl.errors import CheckpointError, ConfigError

SOURCE = Source(path="/runs/x/best_model.zip", kind="sb3", algo="sac")


class Constant:
    """Always the same action: CartPole's 0 (push left) ends each episode within a few dozen steps."""

    def __init__(self, action) -> None:
        self.action = np.asarray(action)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return np.repeat(self.action[None], len(observation), axis=0), None


@pytest.fixture(scope="module")
def cartpole() -> Demos:
    return collect(Constant(0), "CartPole-v1", 3, source=SOURCE, seed=7)


@pytest.fixture(scope="module")
def pendulum() -> Demos:
    return collect(Constant([0.5]), "simrl/Pendulum-v0", 2, source=SOURCE, seed=3, params={"mass": 1.2}, env_kwargs={})


def test_terminated_episodes_end_on_their_terminal_observation(cartpole):
    assert cartpole.n_episodes == 3 and len(cartpole) == cartpole.episode_lengths.sum()
    np.testing.assert_array_equal(cartpole.episode_returns, cartpole.episode_lengths)  # CartPole pays 1 a step
    assert cartpole.act_shape == () and cartpole.obs_shape == (4,)
    for ep in cartpole.episodes():
        assert ep.terminated[-1] and not ep.terminated[:-1].any() and not ep.truncated.any()
        last = ep.next_observations[-1]
        assert abs(last[2]) > 0.2095 or abs(last[0]) > 2.4  # the pole fell or the cart left: not a reset state
        np.testing.assert_array_equal(ep.next_observations[:-1], ep.observations[1:])
        assert np.abs(ep.observations[0]).max() <= 0.05  # each episode starts from a reset
    assert not np.array_equal(cartpole.episode(0).observations[0], cartpole.episode(1).observations[0])


def test_time_limits_are_truncations_and_the_params_are_recorded(pendulum):
    np.testing.assert_array_equal(pendulum.episode_lengths, [200, 200])
    np.testing.assert_array_equal(pendulum.episode_starts, [0, 200])
    assert pendulum.truncated.sum() == 2 and pendulum.truncated[[199, 399]].all() and not pendulum.terminated.any()
    assert pendulum.env_params == {"mass": 1.2, "length": 1.0, "gravity": 10.0}
    np.testing.assert_allclose(pendulum.actions, 0.5)


def test_the_episodes_are_the_ones_eval_runs_on_the_same_seed(pendulum):
    from simrl.evaluation.evaluate import evaluate

    result = evaluate(Constant([0.5]), "simrl/Pendulum-v0", 2, params={"mass": 1.2}, seed=3)
    np.testing.assert_array_equal(pendulum.episode_returns, result.returns)


def test_round_trip_keeps_every_array_and_the_metadata(cartpole, tmp_path):
    path = tmp_path / "demos.npz"
    cartpole.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["demos.npz"]  # no temporary file left behind
    loaded = Demos.load(path, env_id="CartPole-v1", obs_shape=(4,), act_shape=())
    names = ("observations", "actions", "expert_actions", "rewards", "next_observations", "terminated", "truncated")
    for name in names:
        a, b = getattr(cartpole, name), getattr(loaded, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.episode_returns, cartpole.episode_returns)
    assert loaded.metadata() == cartpole.metadata()
    assert (loaded.env_id, loaded.source, loaded.seed, loaded.deterministic) == ("CartPole-v1", SOURCE, 7, True)
    assert loaded.simrl_version == cartpole.simrl_version != ""
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["metadata"][0]))["format"] == "simrl-demos"


def test_first_k_episodes(cartpole):
    two = cartpole.first(2)
    assert two.n_episodes == 2 and len(two) == cartpole.episode_lengths[:2].sum()
    np.testing.assert_array_equal(two.observations, cartpole.observations[: len(two)])
    np.testing.assert_array_equal(two.episode_returns, cartpole.episode_returns[:2])
    assert two.first(2).metadata() == cartpole.metadata()
    assert len(cartpole.first(3)) == len(cartpole)
    for k in (0, -1, 4):
        with pytest.raises(ConfigError, match="first"):
            cartpole.first(k)


def test_normalized_score():
    assert normalized_score(-1250.0, expert=-157.0, random=-1250.0) == 0.0
    assert normalized_score(-157.0, expert=-157.0, random=-1250.0) == 1.0
    assert normalized_score(-703.5, expert=-157.0, random=-1250.0) == pytest.approx(0.5)
    np.testing.assert_allclose(normalized_score(np.array([0.0, 20.0]), expert=10.0, random=0.0), [0.0, 2.0])
    with pytest.raises(ConfigError):
        normalized_score(1.0, expert=3.0, random=3.0)


def test_noise_perturbs_the_actions_taken_and_keeps_the_policys_as_labels(tmp_path):
    quiet = collect(Constant([0.5]), "simrl/Pendulum-v0", 2, source=SOURCE, seed=3)
    noisy = collect(Constant([0.5]), "simrl/Pendulum-v0", 2, source=SOURCE, seed=3, noise=0.1)
    np.testing.assert_array_equal(quiet.expert_actions, quiet.actions)
    assert quiet.noise == 0.0 and noisy.noise == 0.1
    np.testing.assert_allclose(noisy.expert_actions, 0.5)  # the labels: the policy's own action
    taken = noisy.actions[:, 0] - 0.5
    assert np.abs(taken).max() > 0.1 and abs(taken.mean()) < 0.03  # half the range is 2: std 0.2, mean 0
    assert np.std(taken) == pytest.approx(0.2, rel=0.15)
    # the transitions are what the noisy actions did: the first step from the same start differs
    np.testing.assert_array_equal(noisy.observations[0], quiet.observations[0])
    assert not np.array_equal(noisy.next_observations[0], quiet.next_observations[0])
    again = collect(Constant([0.5]), "simrl/Pendulum-v0", 2, source=SOURCE, seed=3, noise=0.1)
    np.testing.assert_array_equal(again.actions, noisy.actions)  # the noise is drawn from the seed
    path = tmp_path / "noisy.npz"
    noisy.save(path)
    loaded = Demos.load(path)
    assert loaded.noise == 0.1 and loaded.metadata() == noisy.metadata()
    np.testing.assert_array_equal(loaded.expert_actions, noisy.expert_actions)


def test_noise_stays_inside_the_action_bounds():
    noisy = collect(Constant([2.0]), "simrl/Pendulum-v0", 1, source=SOURCE, noise=0.5)
    assert noisy.actions.max() == 2.0 and noisy.actions.min() >= -2.0 and (noisy.actions < 2.0).any()


@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf")])
def test_bad_noise_is_refused(noise):
    with pytest.raises(ConfigError, match="--noise"):
        collect(Constant([0.5]), "simrl/Pendulum-v0", 1, source=SOURCE, noise=noise)


def test_noise_needs_continuous_actions():
    with pytest.raises(ConfigError, match="continuous"):
        collect(Constant(0), "CartPole-v1", 1, source=SOURCE, noise=0.1)


def test_version_1_files_are_read_with_their_actions_as_labels(cartpole, tmp_path):
    arrays = _arrays(cartpole)
    del arrays["expert_actions"]
    meta = json.loads(str(arrays["metadata"][0]))
    del meta["noise"]
    arrays["metadata"] = np.array([json.dumps({**meta, "version": 1})])
    path = tmp_path / "v1.npz"
    np.savez(path, **arrays)
    loaded = Demos.load(path, env_id="CartPole-v1")
    np.testing.assert_array_equal(loaded.expert_actions, cartpole.actions)
    assert loaded.noise == 0.0 and loaded.metadata()["version"] == 2


def test_zero_episodes_are_refused():
    with pytest.raises(ConfigError, match="--episodes"):
        collect(Constant(0), "CartPole-v1", 0, source=SOURCE)


# -- the bad-file corpus: each one CheckpointError naming the file, printed as one line ------------------------


def _arrays(d: Demos) -> dict[str, np.ndarray]:
    names = ("observations", "actions", "expert_actions", "rewards", "next_observations", "terminated", "truncated")
    arrays = {name: getattr(d, name).copy() for name in names}
    arrays["episode_returns"] = d.episode_returns.copy()
    arrays["episode_lengths"] = d.episode_lengths.copy()
    arrays["metadata"] = np.array([json.dumps(d.metadata())])
    return arrays


def _meta(change):
    def edit(a):
        meta = json.loads(str(a["metadata"][0]))
        change(meta)
        a["metadata"] = np.array([json.dumps(meta)])

    return edit


def _set(name, value):
    def edit(a):
        a[name] = value(a[name]) if callable(value) else value

    return edit


def _nan_observation(a):
    a["observations"][5, 1] = np.nan


def _zero_length(a):
    n = a["episode_lengths"]
    a["episode_lengths"] = np.array([n[0] + n[1], 0, n[2]])


def _both_flags(a):
    a["truncated"][np.flatnonzero(a["terminated"])[0]] = True


def _no_end(a):
    a["terminated"][np.flatnonzero(a["terminated"])[0]] = False


def _end_too_early(a):
    a["terminated"][2] = True


CASES = {
    "a missing key": (lambda a: a.pop("actions"), "lack actions"),
    "no metadata": (lambda a: a.pop("metadata"), "lack metadata"),
    "flags of another dtype": (_set("terminated", lambda t: t.astype(np.int8)), "terminated of dtype int8"),
    "integer rewards": (_set("rewards", lambda r: r.astype(np.int64)), "rewards of dtype int64"),
    "string observations": (_set("observations", lambda o: o.astype(str)), "observations of dtype"),
    "one action too few": (_set("actions", lambda x: x[:-1]), "actions of shape"),
    "observations without a feature axis": (_set("observations", lambda o: o[:, 0]), "observations of shape"),
    "next observations of another shape": (_set("next_observations", lambda o: o[:, :2]), "next_observations"),
    "next observations of another dtype": (
        _set("next_observations", lambda o: o.astype(np.float16)),
        "next_observations of dtype",
    ),
    "a length too many": (_set("episode_lengths", lambda n: n + np.array([1, 0, 0])), "do not split"),
    "a zero length": (_zero_length, "do not split"),
    "lengths and returns apart": (_set("episode_returns", lambda r: r[:2]), "episode_lengths of shape"),
    "a row both terminated and truncated": (_both_flags, "both terminated and truncated"),
    "an episode without its end": (_no_end, "do not end exactly"),
    "an end inside an episode": (_end_too_early, "do not end exactly"),
    "returns that are not the rewards' sums": (_set("episode_returns", lambda r: r + 1.0), "sums of their rewards"),
    "a NaN observation": (_nan_observation, "non-finite observations"),
    "an infinite reward": (_set("rewards", lambda r: np.where(np.arange(len(r)) == 3, np.inf, r)), "non-finite"),
    "no rows": (
        lambda a: a.update({k: v[:0] for k, v in a.items() if k != "metadata"}),
        "rewards of shape (0,)",
    ),
    "metadata that is not JSON": (_set("metadata", np.array(["{not json"])), "not JSON"),
    "metadata of two strings": (_set("metadata", np.array(["{}", "{}"])), "one JSON string"),
    "metadata of numbers": (_set("metadata", np.array([1.0])), "one JSON string"),
    "another format": (_meta(lambda m: m.update(format="other")), "format 'simrl-demos'"),
    "a newer version": (_meta(lambda m: m.update(version=3)), "version 3"),
    "no expert actions": (lambda a: a.pop("expert_actions"), "lack expert_actions"),
    "expert actions of another shape": (_set("expert_actions", lambda x: x[:-1]), "expert_actions of shape"),
    "a negative noise": (_meta(lambda m: m.update(noise=-0.1)), "'noise'"),
    "a noise that is not a number": (_meta(lambda m: m.update(noise="some")), "'noise' is 'some', not a number"),
    "a seed that is not an integer": (_meta(lambda m: m.update(seed="zero")), "'seed'"),
    "a seed of true": (_meta(lambda m: m.update(seed=True)), "'seed'"),
    "no env id": (_meta(lambda m: m.pop("env_id")), "'env_id'"),
    "an empty env id": (_meta(lambda m: m.update(env_id="")), "empty 'env_id'"),
    "params that are not numbers": (_meta(lambda m: m.update(env_params={"mass": "heavy"})), "env_params"),
    "a source without a kind": (_meta(lambda m: m["source"].pop("kind")), "'source'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_are_one_line_errors(cartpole, tmp_path, case):
    edit, message = CASES[case]
    arrays = _arrays(cartpole)
    edit(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError) as e:
        Demos.load(path)
    _check_line(e.value, path)
    assert message in e.value.line(), e.value.line()


def _check_line(error: CheckpointError, path: Path) -> None:
    line = error.line()
    assert line.startswith(f"simrl: error: demonstrations '{path}' ") and "\n" not in line


@pytest.mark.parametrize(
    "expect, message",
    [
        ({"env_id": "simrl/Pendulum-v0"}, "are of CartPole-v1, not simrl/Pendulum-v0"),
        ({"obs_shape": (3,)}, "observations of shape (4,), not (3,)"),
        ({"act_shape": (1,)}, "actions of shape (), not (1,)"),
    ],
    ids=["another env", "other observations", "other actions"],
)
def test_demos_of_another_env_or_other_shapes_are_refused(cartpole, tmp_path, expect, message):
    path = tmp_path / "demos.npz"
    cartpole.save(path)
    with pytest.raises(CheckpointError) as e:
        Demos.load(path, **expect)
    _check_line(e.value, path)
    assert message in e.value.line()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _write_half(path: Path, demos: Demos) -> None:
    buf = io.BytesIO()
    np.savez(buf, **_arrays(demos))
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _write_pickled(path: Path, demos: Demos) -> None:
    arrays = _arrays(demos)
    arrays["source"] = np.array([{"path": "x"}], dtype=object)
    arrays["actions"] = np.array([object()] * len(demos), dtype=object)
    np.savez(path, **arrays)


NOT_DEMOS = {
    "a missing file": (lambda path, demos: None, "do not exist"),
    "a text file": (lambda path, demos: path.write_text("observations,actions\n1,2\n"), "not an npz file"),
    "a truncated file": (_write_half, "not an npz file"),
    "one array": (lambda path, demos: path.write_bytes(_npy(np.zeros(3))), "one array"),
    "pickled objects": (_write_pickled, "pickled objects"),
}


@pytest.mark.parametrize("case", sorted(NOT_DEMOS))
def test_files_that_are_not_demonstrations(cartpole, tmp_path, case):
    write, message = NOT_DEMOS[case]
    path = tmp_path / "demos.npz"
    write(path, cartpole)
    with pytest.raises(CheckpointError) as e:
        Demos.load(path)
    _check_line(e.value, path)
    assert message in e.value.line(), e.value.line()
