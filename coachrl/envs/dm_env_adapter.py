"""`CoachEnv`: one simulated athlete behind the `dm_env.Environment` interface.

    from coachrl.envs import CoachEnv

    env = CoachEnv(seed=0)                        # default world, training population
    timestep = env.reset()                        # a new athlete, day 0 of a season
    while not timestep.last():
        action = policy(timestep.observation)     # int32[H]: session, duration, habits
        timestep = env.step(action)
        env.extras["reward_components"]           # every reward term of that day
    env.total_violations                          # masked actions the world replaced

Each `reset()` draws a new athlete (from the held-out population with
`population="heldout"`) and a new season; a season ends by time, so its last
step is a `dm_env.truncation` (discount 1). Stepping after the last step starts
the next season (the dm_env auto-reset convention; that action is ignored).

Speed: the world's `reset` and `step` are jitted once per (config, population)
and shared by every env of that config (the cache lives as long as the
process). On CPU a step costs far more in JAX dispatch and device-to-host
transfers than in arithmetic, so the world state (~80 leaves) and each step's
outputs (~45 leaves) each travel as ONE flat float32 buffer, and the random
key is split inside the jitted functions: a step is one dispatch and one
transfer, and `extras` is unpacked only when read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from coachrl.config import default_world_config
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import feature_names
from coachrl.sim.world import LAST, AthleteWorld

POPULATIONS: tuple[str, ...] = ("train", "heldout")


# --------------------------------------------------------------------------- flat buffers


class _Slot(NamedTuple):
    start: int
    stop: int
    shape: tuple[int, ...]
    dtype: np.dtype


_WORD = np.dtype(np.float32)
_BITCAST = {np.dtype(np.int32), np.dtype(np.uint32)}  # 32-bit leaves stored bit for bit


class _Layout:
    """Where each leaf of a fixed pytree lies in ONE flat float32 buffer.

    `pack` (inside jit) writes float32 leaves as they are, 32-bit integers bit
    for bit (`bitcast_convert_type`) and bools as 0/1; `unpack` slices them
    back out, with jnp inside jit or numpy on the host (where slices are views).
    One buffer means one argument to dispatch and one transfer to the host.
    """

    def __init__(self, shapes: Any):
        flat, self.treedef = jax.tree_util.tree_flatten_with_path(shapes)
        self.paths = tuple(jax.tree_util.keystr(p) for p, _ in flat)
        slots, size = [], 0
        for path, leaf in zip(self.paths, (x for _, x in flat)):
            dtype = np.dtype(leaf.dtype)
            if dtype not in (_WORD, np.dtype(np.bool_), *_BITCAST):
                raise TypeError(f"{path}: cannot pack dtype {dtype} (float32, int32, uint32, "
                                "bool only)")
            n = int(np.prod(leaf.shape, dtype=np.int64))
            slots.append(_Slot(size, size + n, tuple(leaf.shape), dtype))
            size += n
        self.slots, self.size = tuple(slots), size

    def slot(self, path: str) -> _Slot:
        """The slot of the leaf at `path` (as `jax.tree_util.keystr` writes it)."""
        return self.slots[self.paths.index(path)]

    def pack(self, tree: Any) -> jnp.ndarray:  # f32[size]
        parts = []
        for slot, leaf in zip(self.slots, self.treedef.flatten_up_to(tree)):
            x = jnp.ravel(jnp.asarray(leaf, slot.dtype))
            if slot.dtype in _BITCAST:
                x = jax.lax.bitcast_convert_type(x, jnp.float32)
            parts.append(x.astype(jnp.float32))
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.float32)

    def unpack(self, buffer: jnp.ndarray) -> Any:
        """The pytree back from a packed buffer, inside jit."""
        return self.treedef.unflatten([_read(buffer, s) for s in self.slots])

    def unpack_host(self, buffer: np.ndarray) -> Any:
        """The pytree back from a packed numpy buffer; 0-d leaves become numpy scalars."""
        views = {_WORD: buffer, np.dtype(np.bool_): buffer,
                 **{d: buffer.view(d) for d in _BITCAST}}
        leaves = []
        for s in self.slots:
            source = views[s.dtype]
            x = source[s.start] if s.shape == () else source[s.start:s.stop].reshape(s.shape)
            if s.dtype == np.bool_:
                x = np.bool_(x != 0) if s.shape == () else x != 0
            leaves.append(x)
        return self.treedef.unflatten(leaves)


def _read(buffer, slot: _Slot):
    """The leaf in `slot` of a packed buffer (jnp or numpy)."""
    x = buffer[slot.start:slot.stop]
    if slot.dtype in _BITCAST:
        x = (x.view(slot.dtype) if isinstance(x, np.ndarray)
             else jax.lax.bitcast_convert_type(x, slot.dtype))
    elif slot.dtype == np.bool_:
        x = x != 0
    return x.reshape(slot.shape)


class _Compiled(NamedTuple):
    """The jitted world functions of one (config, population), shared by every env."""

    world: AthleteWorld
    reset: Callable  # key -> (key, packed state, packed observation)
    step: Callable  # (key, packed state, int32[H]) -> (key, packed state, packed output)
    state: _Layout
    first: _Layout  # observation of a reset
    output: _Layout  # {step_type, reward, discount, observation, extras} of a step


@functools.cache
def _compile(config: WorldConfig, heldout: bool) -> _Compiled:
    world = AthleteWorld(config)

    def reset(key):
        key, k_athlete, k_reset = jax.random.split(key, 3)
        state, timestep = world.reset(k_reset, world.sample_athlete(k_athlete, heldout))
        return key, state, timestep.observation

    def step(key, state, action):
        key, k_step = jax.random.split(key)
        state, timestep = world.step(state, action, k_step)
        return key, state, timestep._asdict()

    key_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    _, state_shapes, first_shapes = jax.eval_shape(reset, key_shape)
    action_shape = jax.ShapeDtypeStruct((len(config.nvec),), jnp.int32)
    _, _, output_shapes = jax.eval_shape(step, key_shape, state_shapes, action_shape)
    state_layout, first_layout = _Layout(state_shapes), _Layout(first_shapes)
    output_layout = _Layout(output_shapes)

    def packed_reset(key):
        key, state, observation = reset(key)
        return key, state_layout.pack(state), first_layout.pack(observation)

    def packed_step(key, state, action):
        key, state, output = step(key, state_layout.unpack(state), action)
        return key, state_layout.pack(state), output_layout.pack(output)

    return _Compiled(world, jax.jit(packed_reset), jax.jit(packed_step),
                     state_layout, first_layout, output_layout)


def _host(buffer: jax.Array) -> np.ndarray:
    """A writable numpy copy (each step's outputs are the caller's to keep)."""
    return np.array(buffer)


# --------------------------------------------------------------------------- environment


class CoachEnv(dm_env.Environment):
    """One simulated athlete, a season per episode, as a `dm_env.Environment`.

    Args:
      config: the world (default: `configs/world/default.yaml`).
      seed: seeds the env's random key stream (athletes, seasons, every day's noise).
      population: "train" or "heldout" (the evaluation population, DESIGN §3).

    Observation: `{features: float32[F], action_mask: bool[sum(nvec)]}` (today's
    safety mask). Action: int32[H], one choice per head in `head_names`; a
    masked choice is replaced by the nearest allowed one and counted in
    `extras["num_violations"]` and `total_violations`. An action of the wrong
    shape, a non-integer dtype or an out-of-range choice raises ValueError
    before the world is touched.

    After each step `extras` holds that day's observable `record`, its
    `reward_components` (floats), the `action` actually applied, the
    `violations` (bool per head), the hidden evaluation `metrics` and
    `num_violations`; it is empty after a reset.
    """

    def __init__(self, config: WorldConfig | None = None, seed: int = 0,
                 population: str = "train"):
        if population not in POPULATIONS:
            raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
        self._config = default_world_config() if config is None else config
        self._population = population
        self._fns = _compile(self._config, population == "heldout")
        nvec = np.asarray(self._config.nvec, np.int32)
        self._max_action = nvec - 1
        self._action_spec = specs.BoundedArray(shape=(len(nvec),), dtype=np.int32, minimum=0,
                                               maximum=self._max_action, name="action")
        self._observation_spec = {
            "features": specs.Array((self._fns.world.num_features,), np.float32,
                                    name="features"),
            "action_mask": specs.Array((int(nvec.sum()),), np.bool_, name="action_mask"),
        }
        self._reward_spec = specs.Array((), np.float32, name="reward")
        self._discount_spec = specs.BoundedArray((), np.float32, 0.0, 1.0, name="discount")
        # Host-side views of the outputs read on every step.
        out = self._fns.output
        self._step_type = out.slot("['step_type']")
        self._reward = out.slot("['reward']").start
        self._discount = out.slot("['discount']").start
        self._features = out.slot("['observation']['features']")
        self._mask = out.slot("['observation']['action_mask']")
        violations = out.slot("['extras']['violations']")
        self._violations = slice(violations.start, violations.stop)
        self._first_features = self._fns.first.slot("['features']")
        self._first_mask = self._fns.first.slot("['action_mask']")

        self._key = jax.random.PRNGKey(seed)
        self._state: jax.Array | None = None  # packed world state; None: the next step resets
        self._last = False
        self._outputs: np.ndarray | None = None  # the last step's packed output, for `extras`
        self._extras: dict[str, Any] | None = {}
        self.total_violations = 0

    # ------------------------------------------------------------------ dm_env API

    def reset(self) -> dm_env.TimeStep:
        """A new athlete's first morning."""
        self._key, self._state, first = self._fns.reset(self._key)
        buffer = _host(first)
        self._last = False
        self._outputs, self._extras = None, {}
        return dm_env.restart(self._observation(buffer, self._first_features, self._first_mask))

    def step(self, action: Any) -> dm_env.TimeStep:
        """One day of `action`; after the season's last day, `reset()` instead."""
        if self._state is None or self._last:
            return self.reset()
        action = self._check_action(action)
        self._key, self._state, output = self._fns.step(self._key, self._state, action)
        buffer = _host(output)
        self._outputs, self._extras = buffer, None
        self.total_violations += int(np.count_nonzero(buffer[self._violations]))

        step_type = int(_read(buffer, self._step_type))
        reward, discount = buffer[self._reward], buffer[self._discount]  # np.float32
        observation = self._observation(buffer, self._features, self._mask)
        if step_type == LAST:
            self._last = True
            # A season ends by time: truncation keeps the world's discount (1.0).
            return dm_env.truncation(reward, observation, discount)
        return dm_env.transition(reward, observation, discount)

    def observation_spec(self) -> dict[str, specs.Array]:
        return self._observation_spec

    def action_spec(self) -> specs.BoundedArray:
        return self._action_spec

    def reward_spec(self) -> specs.Array:
        return self._reward_spec

    def discount_spec(self) -> specs.BoundedArray:
        return self._discount_spec

    # ------------------------------------------------------------------ state and properties

    def reseed(self, seed: int) -> None:
        """Restarts the random key stream from `seed`; the next step or reset starts afresh."""
        self._key = jax.random.PRNGKey(seed)
        self._state = None

    @property
    def extras(self) -> dict[str, Any]:
        """The last step's extras as numpy (see the class docstring); {} after a reset."""
        if self._extras is None:
            extras = self._fns.output.unpack_host(self._outputs)["extras"]
            extras["reward_components"] = {k: float(v)
                                           for k, v in extras["reward_components"].items()}
            extras["num_violations"] = int(np.count_nonzero(extras["violations"]))
            self._extras = extras
        return self._extras

    @property
    def world(self) -> AthleteWorld:
        return self._fns.world

    @property
    def config(self) -> WorldConfig:
        return self._config

    @property
    def population(self) -> str:
        return self._population

    @property
    def head_names(self) -> tuple[str, ...]:
        return self._config.head_names

    @property
    def feature_names(self) -> tuple[str, ...]:
        return feature_names(self._config)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _observation(buffer: np.ndarray, features: _Slot,
                     mask: _Slot) -> dict[str, np.ndarray]:
        return {"features": buffer[features.start:features.stop],
                "action_mask": buffer[mask.start:mask.stop] != 0}

    def _check_action(self, action: Any) -> np.ndarray:
        """int32[H] from any integer array or list of ints; ValueError naming what is wrong."""
        a = np.asarray(action)
        shape = self._action_spec.shape
        if a.shape != shape:
            raise ValueError(f"action has shape {a.shape}; expected {shape}, one choice per "
                             f"head {self.head_names}")
        if a.dtype.kind not in "iu":
            raise ValueError(f"action has dtype {a.dtype}; expected integers (choice indices "
                             f"per head {self.head_names})")
        bad = (a < 0) | (a > self._max_action)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"action head '{self.head_names[i]}' = {a[i]} is out of range; "
                             f"allowed 0..{self._max_action[i]}")
        return a.astype(np.int32, copy=False)
