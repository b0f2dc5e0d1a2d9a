"""The paper's hyperparameters as named constants (docs/spec.md §1–§8): the one place each
value is written. Option defaults (``rlx2.config``), the budget scaling (``rlx2.resolve``)
and the engines' own defaults (``sparse.schedule``, ``value.capacity``) all read them here.
Pure data, no imports: every layer may use it."""

# §1 algorithms and networks
HIDDEN = 256
GAMMA = 0.99
TAU = 0.005
LEARNING_RATE = 3e-4
BATCH_SIZE = 256
TD3_EXPLORATION_NOISE = 0.1
TD3_POLICY_NOISE = 0.2
TD3_NOISE_CLIP = 0.5
TD3_POLICY_DELAY = 2

# §3 topology evolution
TOPOLOGY_INTERVAL = 10_000
"""ΔT: updates of a network between its topology updates."""
DROP_FRACTION = 0.5
"""ζ₀: initial drop fraction of the cosine schedule."""

# §5 delayed multi-step target
NSTEP = 3
NSTEP_DELAY = 300_000
"""Gradient iterations with 1-step targets before switching to n steps (at TOTAL_STEPS)."""

# §6 dynamic-capacity replay buffer
BUFFER_SIZE = 1_000_000
"""The fixed buffer of the methods without the dynamic one."""
BUFFER_BOUNDS = {"td3": (100_000, 1_000_000), "sac": (200_000, 3_000_000)}
"""Dynamic buffer (minimum, maximum) capacity per algorithm (at TOTAL_STEPS)."""
CHECK_INTERVAL = 10_000
"""Env steps between policy-distance checks (at TOTAL_STEPS)."""
DISTANCE_THRESHOLD = 0.2
DISTANCE_SAMPLES = 2048
"""K: the oldest transitions the policy distance is measured on (8 × batch)."""
SHRINK_FRACTION = 0.1

# §8 evaluation protocol and budget
TOTAL_STEPS = 3_000_000
"""The paper's budget; the time-like values above are stated for it."""
LEARNING_STARTS = 25_000
EVAL_EVERY = 5_000
EVAL_EPISODES = 10
SEEDS = 8
"""Seeds per configuration."""
COMPRESSION_THRESHOLD = 3.0
"""The ultimate compression ratio: the highest sparsity within this % of dense performance."""
