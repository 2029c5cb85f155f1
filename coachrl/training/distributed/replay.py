"""Replay on Reverb: the tables, the server, the actors' adder and the learner's sampler.

- PPO: a queue table (FIFO, each item sampled once, removed when sampled); actors
  wait when it holds `queue_items` windows, which bounds the policy lag.
- MPO: a uniform table (FIFO removal at capacity) with a `SampleToInsertRatio`
  rate limiter, so the learner replays each transition `samples_per_insert`
  times on average whatever the speed of actors and learner. By default each item
  is ONE athlete's n-step window (Acme's layout: the adder writes every athlete's
  columns apart and one item per athlete per step), so a batch of B items is B
  independent transitions; `distributed.mpo_athletes_per_item` = g puts g athletes
  in an item (fewer, larger items: Reverb's cost is per item). Capacity, minimum
  size and the ratio are the MPO config's transitions, divided by g.
- A sink (for benchmarks): a table that never blocks the actors.

Reverb is imported only inside the nodes that use it. A PPO item holds a window
of all E environments of an actor (a rollout); an MPO item g environments'.
"""

from __future__ import annotations

import math
import queue
import threading
from typing import Any

import numpy as np

from coachrl.training.config import TrainConfig

TABLE = "replay"


def make_table(config: TrainConfig, sink: bool = False) -> Any:
    """The replay table (a `reverb.Table`) of `config`'s agent, or a never-blocking sink.
    Sizes are in items: PPO's windows, MPO's transitions of `mpo_athletes_per_item`."""
    import reverb

    if sink:
        return reverb.Table(TABLE, sampler=reverb.selectors.Fifo(),
                            remover=reverb.selectors.Fifo(), max_size=64,
                            rate_limiter=reverb.rate_limiters.MinSize(1))
    if config.agent == "ppo":
        return reverb.Table.queue(TABLE, max_size=config.distributed.queue_items)
    mpo, per_item = config.mpo, config.distributed.mpo_athletes_per_item
    min_items = max(1, math.ceil(mpo.min_replay_size / per_item))
    error_buffer = max(2.0 * max(1.0, mpo.samples_per_insert),  # Reverb's own minimum
                       min_items * mpo.samples_per_insert
                       * config.distributed.samples_per_insert_tolerance)
    return reverb.Table(
        TABLE, sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(),
        max_size=max(min_items + 1, math.ceil(mpo.replay_capacity / per_item)),
        rate_limiter=reverb.rate_limiters.SampleToInsertRatio(
            samples_per_insert=mpo.samples_per_insert, min_size_to_sample=min_items,
            error_buffer=error_buffer))


class ReplayServer:
    """A Reverb server with the table of `config` (run as a Ray actor: it lives as long as
    the actor; tables are built here because they cannot be pickled)."""

    def __init__(self, config: TrainConfig, sink: bool = False, port: int | None = None):
        import ray
        import reverb

        self._server = reverb.Server([make_table(config, sink)], port=port)
        self._address = f"{ray.util.get_node_ip_address()}:{self._server.port}"
        self._client = reverb.Client(self._address)

    def address(self) -> str:
        return self._address

    def info(self) -> dict[str, Any]:
        """Per-table size, inserts and samples so far."""
        out = {}
        for name, table in self._client.server_info().items():
            limiter = table.rate_limiter_info
            out[name] = {"size": int(table.current_size),
                         "inserts": int(limiter.insert_stats.completed),
                         "samples": int(limiter.sample_stats.completed)}
        return out


class SequenceAdder:
    """Writes a window of the last `length` steps every `period` steps (Acme's SequenceAdder).

    Each `add(step)` appends one record of the actor's batch (arrays [E, ...]) to a
    Reverb trajectory writer; consecutive windows overlap by length - period steps.
    An item is the window of the whole batch ([L, E, ...]), or with `envs_per_item` = g
    < E one item per group of g environments ([L, g, ...]: each group's columns are
    written apart; g = 1 is Acme's adders' one environment). `max_in_flight` windows of
    the batch may be unconfirmed before `add` waits for the server, so a full queue or a
    rate limiter holds the actor back.
    """

    def __init__(self, client: Any, length: int, period: int,
                 max_in_flight: int = 2, table: str = TABLE, envs_per_item: int | None = None):
        self._writer = client.trajectory_writer(num_keep_alive_refs=length)
        self._length, self._period, self._table = length, period, table
        self._max_in_flight, self._per_item = max_in_flight, envs_per_item
        self._steps = 0

    def add(self, step: dict[str, np.ndarray]) -> None:
        n = len(next(iter(step.values())))
        g = self._per_item if self._per_item is not None and self._per_item < n else None
        if g is not None and n % g:
            raise ValueError(f"{n} environments do not split into items of {g}")
        self._writer.append(step if g is None else
                            {k: [v[i:i + g] for i in range(0, n, g)] for k, v in step.items()})
        self._steps += 1
        if self._steps >= self._length and (self._steps - self._length) % self._period == 0:
            history, last = self._writer.history, slice(-self._length, None)
            for i in range(n // g) if g is not None else (None,):
                self._writer.create_item(self._table, priority=1.0, trajectory={
                    k: (history[k] if i is None else history[k][i])[last] for k in step})
            self._writer.flush(self._max_in_flight * (n // g if g is not None else 1))

    def close(self, timeout_s: float = 1.0) -> None:
        """Sends what is pending (waiting at most `timeout_s`: a full table may never take
        it), then closes the writer."""
        import reverb

        try:
            self._writer.flush(timeout_ms=int(timeout_s * 1000))
        except reverb.errors.DeadlineExceededError:
            pass
        self._writer.close()


class Sampler:
    """Batches of stacked windows from the table, fetched by a background thread.

    Reads through `reverb.TrajectoryDataset` (batched in C++; about 7x faster than
    `Client.sample` item by item) with one worker and `items_per_batch` samples in
    flight, so at most about two batches wait outside the table: with a queue table
    that keeps the policy lag near `queue_items`. `item` is one window's arrays
    ([L, E, ...], any values: only shapes and dtypes are used). `get(timeout)` returns
    the next batch ({column: [L, items x E, ...]}) or None when none arrived in time
    (the table is empty or rate-limited), so the learner can stop even while Reverb
    blocks; an error in the sampling thread is raised again by `get`.
    """

    def __init__(self, address: str, item: dict[str, np.ndarray], items_per_batch: int,
                 table: str = TABLE):
        self._address, self._item, self._table = address, item, table
        self._items = items_per_batch
        self._batches: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        threading.Thread(target=self._fetch, daemon=True, name="replay-sampler").start()

    def _fetch(self) -> None:
        try:
            import reverb
            import tensorflow as tf

            dataset = reverb.TrajectoryDataset(
                server_address=self._address, table=self._table,
                dtypes={k: tf.as_dtype(v.dtype) for k, v in self._item.items()},
                shapes={k: tf.TensorShape(v.shape) for k, v in self._item.items()},
                max_in_flight_samples_per_worker=self._items, num_workers_per_iterator=1)
            for sample in dataset.batch(self._items).as_numpy_iterator():
                # [items, L, E, ...] -> [L, items x E, ...]: windows side by side.
                self._batches.put({k: np.concatenate(list(v), axis=1)
                                   for k, v in sample.data.items()})
        except BaseException as error:  # noqa: BLE001 (handed to the learner's thread)
            self._error = error

    def get(self, timeout: float) -> dict[str, np.ndarray] | None:
        try:
            return self._batches.get(timeout=timeout)
        except queue.Empty:
            if self._error is not None:
                raise RuntimeError(f"sampling from the replay at {self._address} failed: "
                                   f"{self._error}") from self._error
            return None


__all__ = ["ReplayServer", "Sampler", "SequenceAdder", "TABLE", "make_table"]
