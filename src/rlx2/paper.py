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

# Results (docs/reference-numbers.md: Tables 2 and 3), performance in % of dense, by algorithm,
# task family and the label `rlx2 report` gives the method (Table 3: "+" = RLx2's value
# learning on that topology; "rlx2 n=K" = RLx2 with K-step targets, 3 being RLx2 itself).
PERCENT_OF_DENSE = {
    "td3": {
        "HalfCheetah": {"tiny": 86.3, "ss": 77.1, "set": 92.6, "rigl": 90.8, "rlx2": 99.8},
        "Hopper": {"tiny": 64.5, "ss": 67.7, "set": 66.5, "rigl": 90.6, "rlx2": 97.0},
        "Walker2d": {"tiny": 60.8, "ss": 42.9, "set": 39.3, "rigl": 35.7, "rlx2": 98.1},
        "Ant": {"tiny": 16.5, "ss": 49.6, "set": 62.5, "rigl": 68.5, "rlx2": 103.9},
    },
    "sac": {
        "HalfCheetah": {"tiny": 95.0, "ss": 75.4, "set": 94.8, "rigl": 89.8, "rlx2": 102.2},
        "Hopper": {"tiny": 89.1, "ss": 81.6, "set": 103.9, "rigl": 110.0, "rlx2": 109.7},
        "Walker2d": {"tiny": 73.8, "ss": 83.4, "set": 95.8, "rigl": 81.9, "rlx2": 103.2},
        "Ant": {"tiny": 49.6, "ss": 49.3, "set": 79.8, "rigl": 90.9, "rlx2": 105.6},
    },
}
ABLATION_PERCENT_OF_DENSE = {
    "td3": {
        "HalfCheetah": {
            "tiny+": 93.3,
            "ss+": 86.1,
            "set+": 100.1,
            "rlx2 n=1": 96.5,
            "rlx2 n=2": 101.7,
            "rlx2 n=3": 99.8,
            "rlx2 n=4": 98.8,
            "rlx2 n=5": 97.0,
        },
        "Hopper": {
            "tiny+": 74.4,
            "ss+": 84.2,
            "set+": 88.8,
            "rlx2 n=1": 77.9,
            "rlx2 n=2": 91.7,
            "rlx2 n=3": 97.0,
            "rlx2 n=4": 84.0,
            "rlx2 n=5": 87.5,
        },
        "Walker2d": {
            "tiny+": 84.1,
            "ss+": 83.8,
            "set+": 89.4,
            "rlx2 n=1": 73.9,
            "rlx2 n=2": 93.7,
            "rlx2 n=3": 98.1,
            "rlx2 n=4": 99.1,
            "rlx2 n=5": 99.3,
        },
        "Ant": {
            "tiny+": 28.7,
            "ss+": 80.2,
            "set+": 83.5,
            "rlx2 n=1": 103.9,
            "rlx2 n=2": 105.1,
            "rlx2 n=3": 103.9,
            "rlx2 n=4": 96.7,
            "rlx2 n=5": 94.5,
        },
    },
}
