"""The algorithm registry: everything the other layers need to know about an algorithm.

Torch-free and import-light (it imports only ``rlx2.paper`` and ``rlx2.errors``), so network
shapes, FLOPs accounting, resolution, export and the CLI read it without building anything;
the agent class itself is named by import path and loaded only when a run builds it.

Adding a third algorithm touches three places (docs/architecture.md):

1. the algorithm: ``rlx2/algos/<name>.py``, an agent class taking ``config=`` (its option
   section) and the keyword arguments ``rlx2.train.builders`` passes to every agent;
2. its config: a frozen option dataclass in ``rlx2.config``, a ``TrainConfig`` field named
   like the algorithm, and the name in the ``Algo`` literal (the CLI's choices);
3. its registration: one :class:`AlgorithmSpec` in :data:`ALGORITHMS` below.

``tests/test_architecture.py`` checks that these three agree and that no other module of
``src/rlx2`` names an algorithm.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlx2 import paper
from rlx2.errors import ConfigError

Passes = tuple[float, float]
"""(actor, critic) forward-pass equivalents per training iteration (docs/flops.md)."""


@dataclass(frozen=True)
class AlgorithmSpec:
    """What shapes, accounting, resolution, building and export need to know of one algorithm."""

    name: str
    """The ``--algo`` value, and the name of the algorithm's option section in ``TrainConfig``."""
    agent: str
    """``module:Class`` of the agent, imported when a run builds one."""
    actor_outputs_per_action: int
    """Actor outputs per action dimension (TD3: the action; SAC: mean and log σ)."""
    actor_head: str
    """How a deployed actor turns its outputs into an action (export metadata "head")."""
    kept_critic_copies: int
    """Critic copies kept per actor copy, for the model size (spec §9)."""
    buffer_bounds: tuple[int, int]
    """The paper's dynamic-buffer bounds (min, max) at its full budget (spec §6)."""
    paper_passes: Callable[[int], Passes]
    """The paper's FLOPs convention at n-step ``n`` (calibrated where the paper is silent)."""
    network_passes: Callable[[int, int], Passes]
    """The passes of the networks as they train at n-step ``n`` and actor period ``d``."""
    actor_delay_option: str | None = None
    """The option of the algorithm's section giving critic updates per actor update (None: 1)."""

    def section(self, config: Any) -> Any:
        """This algorithm's option section of a ``TrainConfig``."""
        return getattr(config, self.name)

    @property
    def delays_actor(self) -> bool:
        """Whether the actor updates less often than the critic (an option sets how much)."""
        return self.actor_delay_option is not None

    def actor_period(self, policy_delay: int) -> int:
        """Critic updates per actor update for a requested ``policy_delay`` (1 if no delay)."""
        return policy_delay if self.delays_actor else 1

    def actor_update_period(self, config: Any) -> int:
        """Critic updates per actor update in the run ``config`` (a ``TrainConfig``)."""
        if self.actor_delay_option is None:
            return 1
        return int(getattr(self.section(config), self.actor_delay_option))

    def agent_class(self) -> Any:
        """The agent class (imports torch)."""
        module, _, name = self.agent.partition(":")
        return getattr(importlib.import_module(module), name)


# TD3 (docs/flops.md). Paper convention, policy delay 2 whatever --policy-delay says:
#   actor  = 1 (target actor at s') + 3/2 (actor forward + backward every 2nd update) = 2.5
#   critic = 3 (critic loss forward + backward) + 1.5/2 (Q1 forward + input gradient for the
#            actor loss every 2nd) = 3.75; the target-critic forward is not counted (the only
#            convention that reproduces the paper's TD3 column: 2.5a + 3.75c = 1.25·(2a + 3c)).
#   The n-step window only adds rewards: the target networks still run at one bootstrap state.
# Network convention, actor every d-th update: actor 1 + 3/d; critic 1 (target) + 3 + 1/d.
def _td3_paper_passes(nstep: int) -> Passes:
    delay = paper.TD3_POLICY_DELAY
    return 1.0 + 3.0 / delay, 3.0 + 1.5 / delay


def _td3_network_passes(nstep: int, delay: int) -> Passes:
    return 1.0 + 3.0 / delay, 4.0 + 1.0 / delay


# SAC, actor every update. Paper convention: actor n (an actor sample at each next state of
# the window, spec §5) + 1.5, critic 6.5; 1.5 and 6.5 are calibrated on the paper's SAC column
# (it states no SAC accounting), so n = 1 gives the dense 2.5a + 6.5c and n = 3 RLx2's 4.5a + 6.5c.
# Network convention: actor n + 3 (actor loss); critic 1 (target) + 3 + 2 (both heads' forward
# and input gradient for the actor loss).
def _sac_paper_passes(nstep: int) -> Passes:
    return nstep + 1.5, 6.5


def _sac_network_passes(nstep: int, delay: int) -> Passes:
    return nstep + 3.0, 6.0


ALGORITHMS: dict[str, AlgorithmSpec] = {
    "td3": AlgorithmSpec(
        name="td3",
        agent="rlx2.algos.td3:TD3",
        actor_outputs_per_action=1,
        actor_head="deterministic",
        # Actor, critic and both targets: the factor 2 cancels in the ratio.
        kept_critic_copies=1,
        buffer_bounds=paper.BUFFER_BOUNDS["td3"],
        paper_passes=_td3_paper_passes,
        network_passes=_td3_network_passes,
        actor_delay_option="policy_delay",
    ),
    "sac": AlgorithmSpec(
        name="sac",
        agent="rlx2.algos.sac:SAC",
        actor_outputs_per_action=2,
        actor_head="gaussian_mean",
        # Actor, critic and the critic's target (no actor target).
        kept_critic_copies=2,
        buffer_bounds=paper.BUFFER_BOUNDS["sac"],
        paper_passes=_sac_paper_passes,
        network_passes=_sac_network_passes,
    ),
}


def algorithm(name: str) -> AlgorithmSpec:
    """The registered algorithm ``name``; ConfigError naming the valid ones otherwise."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"algo={name!r} is unknown; valid: {', '.join(ALGORITHMS)}") from None
