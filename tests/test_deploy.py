"""Export and NumPy-only deployment (rlx2 export / rlx2 evaluate / rlx2.deploy.load_policy).

Few-second Pendulum runs (TD3 and SAC, dense and RigL) are trained once per module;
every test reads them. A run's last evaluation is at its last step, so re-evaluating the
exported final actor with the run's seed must give the same returns.
"""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_one_line_error, run_cli
from safetensors.numpy import save

from rlx2.cli import main
from rlx2.config import RunConfig
from rlx2.deploy import NumpyPolicy, PolicyFileError, load_policy
from rlx2.deploy.c_export import (
    MAX_WIDTH,
    CArray,
    _array_text,
    c_policy,
    check_prefix,
    column_order,
    write_c_policy,
)
from rlx2.deploy.export import (
    actor_layers,
    csr_arrays,
    export_policy,
    load_final_agent,
    policy_metadata,
    policy_tensors,
)
from rlx2.deploy.numpy_policy import (
    EXECUTIONS,
    _CsrLayer,
    load_policy_record,
    policy_from_tensors,
    policy_record_from_bytes,
)
from rlx2.errors import ConfigError
from rlx2.nets import DeterministicActor
from rlx2.sparse.masks import linear_weights
from rlx2.train import rundir

TRAIN = [
    "--env",
    "Pendulum-v1",
    "--total-steps",
    "1200",
    "--learning-starts",
    "256",
    "--batch-size",
    "32",
    "--hidden",
    "32",
    "--eval-every",
    "600",  # divides --total-steps: the last evaluation is of the final actor
    "--eval-episodes",
    "2",
    "--quiet",
]
SPARSE = ["--method", "rigl", "--actor-sparsity", "0.9", "--critic-sparsity", "0.8"]
SPARSE += ["--topology-interval", "100"]  # a few topology updates within the short run
CASES = [("td3", "dense"), ("td3", "rigl"), ("sac", "dense"), ("sac", "rigl")]
# With the --backend option, RigL runs on the sparse backend (SparseMLP) by default; export a
# masked (nn.Linear) RigL run too.
if "backend" in {f.name for f in dataclasses.fields(RunConfig)}:
    CASES.append(("td3", "rigl-masked"))
CASE_IDS = [f"{algo}-{method}" for algo, method in CASES]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("deploy_runs")
    made = {}
    for seed, (algo, method) in enumerate(CASES):
        run_dir = root / f"{algo}_{method}"
        extra = {"dense": [], "rigl": SPARSE, "rigl-masked": [*SPARSE, "--backend", "masked"]}
        seeding = ["--seed", str(seed), "--run-dir", str(run_dir)]
        main(["train", *TRAIN, "--algo", algo, *extra[method], *seeding])
        made[(algo, method)] = run_dir
    return made


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """The CSR policy file of every run, written through the CLI."""
    root = tmp_path_factory.mktemp("policies")
    files = {}
    for (algo, method), run_dir in runs.items():
        files[(algo, method)] = root / f"{algo}_{method}.safetensors"
        main(["export", str(run_dir), "--out", str(files[(algo, method)])])
    return files


def torch_actions(agent, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return agent.actor(torch.as_tensor(obs)).numpy()


# ------------------------------------------------------------------ round trip and actions


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_exported_policy_computes_the_torch_actor(case, runs, exported, tmp_path):
    algo, method = case
    agent, _, _ = load_final_agent(runs[case])
    dense_file = tmp_path / "dense.safetensors"
    export_policy(runs[case], dense_file, dense=True)
    policies = {
        (storage, execution): load_policy(path, execution)
        for storage, path in (("csr", exported[case]), ("dense", dense_file))
        for execution in EXECUTIONS
    }
    policy = policies[("csr", "auto")]

    meta = policy.metadata
    assert (policy.obs_dim, policy.act_dim) == (3, 1)
    assert json.loads(meta["hidden_sizes"]) == [32, 32]
    assert meta["head"] == ("gaussian_mean" if algo == "sac" else "deterministic")
    assert (meta["algo"], meta["method"], meta["env"]) == (
        algo,
        method.split("-")[0],
        "Pendulum-v1",
    )
    assert meta["storage"] == "csr" and policies[("dense", "auto")].metadata["storage"] == "dense"
    assert policies[("csr", "csr")].execution == ["csr"] * 3
    assert policies[("csr", "dense")].execution == ["dense"] * 3
    if method.startswith("rigl"):
        masks = agent.actor_updater.masks
        assert int(meta["num_active"]) == sum(masks.num_active())
        assert float(meta["sparsity"]) == pytest.approx(masks.sparsity(), abs=1e-6)
        used = policies[("csr", "csr")].num_stored_weights  # SAC: the log σ rows are skipped
        assert used == int(meta["num_active"]) if algo == "td3" else used < int(meta["num_active"])

    obs = np.random.default_rng(0).normal(scale=3.0, size=(256, 3)).astype(np.float32)
    expected = torch_actions(agent, obs)  # [256, 1]
    for key, candidate in policies.items():
        batch = candidate(obs)
        assert batch.dtype == np.float32 and batch.shape == (256, 1), key
        np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-5, err_msg=str(key))
        single = np.stack([candidate(o) for o in obs[:32]])  # the batch-1 path of evaluation
        np.testing.assert_allclose(single, expected[:32], rtol=0, atol=1e-5, err_msg=str(key))


@pytest.mark.parametrize("execution", ["auto", "csr"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_evaluate_reproduces_the_runs_last_evaluation(case, execution, runs, exported, capsys):
    last = rundir.read_evaluations(runs[case])[-1]
    assert last["step"] == 1200  # the final actor's evaluation
    capsys.readouterr()
    policy = ["--policy", str(exported[case]), "--execution", execution]
    main(["evaluate", *policy, "--episodes", "2", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["seed"] == list(CASES).index(case) and result["env_seed"] == result["seed"] + 100
    # float32 NumPy vs torch differ in the last bits of an action (~1e-7); on Pendulum that
    # moves a 200-step return by ~1e-9 relative (docs/deploy.md), never by 1e-6.
    assert result["return_mean"] == pytest.approx(last["return_mean"], rel=1e-6)
    assert min(result["returns"]) == pytest.approx(last["return_min"], rel=1e-6)
    assert max(result["returns"]) == pytest.approx(last["return_max"], rel=1e-6)


def test_evaluate_prints_one_line_summary(exported, capsys):
    main(
        ["evaluate", "--policy", str(exported[("td3", "dense")]), "--episodes", "1", "--seed", "7"]
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("Pendulum-v1: return ") and "seed 7" in out


# ------------------------------------------------------------------ sizes


def random_layers(rng, widths, density) -> list:
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        mask = rng.random((n_out, n_in)) < density
        weight = np.where(mask, rng.normal(size=(n_out, n_in)), 0).astype(np.float32)
        layers.append((weight, mask, rng.normal(size=n_out).astype(np.float32)))
    return layers


def test_csr_file_grows_with_active_weights_and_beats_dense():
    rng = np.random.default_rng(0)
    widths = [11, 256, 256, 3]  # Hopper's actor
    scale, bias = np.ones(3, np.float32), np.zeros(3, np.float32)
    csr_sizes, tensor_bytes, actives = [], [], []
    for density in (0.02, 0.05, 0.1, 0.2):
        layers = random_layers(rng, widths, density)
        tensors = policy_tensors(layers, scale, bias, "csr")
        csr_sizes.append(len(save(tensors)))
        tensor_bytes.append(sum(t.nbytes for t in tensors.values()))
        actives.append(sum(int(m.sum()) for _, m, _ in layers))
    dense_size = len(save(policy_tensors(layers, scale, bias, "dense")))
    assert csr_sizes == sorted(csr_sizes) and csr_sizes[-1] < dense_size
    # int16 indices + float32 values: exactly 6 bytes per active weight, the rest is fixed.
    fixed = [b - 6 * a for b, a in zip(tensor_bytes, actives, strict=True)]
    assert len(set(fixed)) == 1
    assert fixed[0] == 4 * (257 + 257 + 4) + 4 * (256 + 256 + 3) + 2 * 4 * 3  # indptr, biases, head


def test_exported_sparse_run_is_smaller_than_dense(runs, tmp_path):
    result = export_policy(runs[("td3", "rigl")], tmp_path / "p.safetensors")
    assert result.file_bytes == (tmp_path / "p.safetensors").stat().st_size
    assert result.file_bytes == result.csr_file_bytes < result.dense_file_bytes
    assert result.num_active < 0.11 * result.num_weights


# ------------------------------------------------------------------ pure pieces against brute force


def test_csr_arrays_hand_sized():
    weight = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]], np.float32)
    mask = np.array([[True, True, False], [False, False, False], [True, False, True]])
    indptr, indices, values = csr_arrays(weight, mask)
    assert indptr.tolist() == [0, 2, 2, 4] and indptr.dtype == np.int32
    assert indices.tolist() == [0, 1, 0, 2] and indices.dtype == np.int16
    assert values.tolist() == [0.0, 2.0, 1.0, 3.0]  # the active zero at (0, 0) is kept


@pytest.mark.parametrize("batch", [9, 300])  # 300: the k-step path; 9: reduceat per column
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 1.0])
def test_csr_layer_matches_dense_matmul(density, batch):
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(40, 17)).astype(np.float32)
    mask = rng.random((40, 17)) < density
    mask[[3, 39]] = False  # empty rows in the middle and at the end
    weight = np.where(mask, weight, 0).astype(np.float32)
    bias = rng.normal(size=40).astype(np.float32)
    layer = _CsrLayer(*csr_arrays(weight, mask), bias)
    x = rng.normal(size=(batch, 17)).astype(np.float32)
    expected = x.astype(np.float64) @ weight.T.astype(np.float64) + bias  # [batch, 40]
    np.testing.assert_allclose(layer(x.T).T, expected, rtol=1e-5, atol=1e-5)  # feature-major
    np.testing.assert_allclose(layer(x[4]), expected[4], rtol=1e-5, atol=1e-5)  # one observation


def test_batch_and_single_observations_give_the_same_actions():
    rng = np.random.default_rng(2)
    layers = random_layers(rng, [5, 8, 8, 2], 0.3)  # uneven rows, some empty
    metadata = policy_metadata(layers, "td3", "Toy-v0", 2, {})
    tensors = policy_tensors(layers, np.full(2, 2.0, np.float32), np.zeros(2, np.float32), "csr")
    policy = policy_from_tensors(tensors, {**metadata, "storage": "csr"}, execution="csr")
    assert policy.execution == ["csr"] * 3
    obs = rng.normal(size=(100, 5)).astype(np.float32)
    batch = policy(obs)  # [100, 2]
    assert batch.flags.c_contiguous
    np.testing.assert_allclose(batch, np.stack([policy(o) for o in obs]), rtol=1e-6, atol=1e-6)


def hand_masked_actor() -> tuple[DeterministicActor, list[torch.Tensor]]:
    """A 3 -> 4 -> 4 -> 1 actor masked to every other weight, with one active weight at 0."""
    actor = DeterministicActor(3, 1, 4, torch.tensor([-2.0]), torch.tensor([2.0]))
    masks = [torch.arange(w.numel()).reshape(w.shape) % 2 == 0 for w in linear_weights(actor)]
    with torch.no_grad():
        for weight, mask in zip(linear_weights(actor), masks, strict=True):
            weight.mul_(mask)
        actor.net[0].weight[0, 0] = 0.0  # active (flat index 0) but 0, e.g. regrown at zero
    return actor, masks


def test_actor_layers_keeps_active_zero_weights():
    actor, masks = hand_masked_actor()
    with_masks, without = actor_layers(actor, masks), actor_layers(actor)
    assert with_masks[0][1][0, 0] and not without[0][1][0, 0]
    assert [int(m.sum()) for _, m, _ in with_masks] == [6, 8, 2]
    assert [int(m.sum()) for _, m, _ in without] == [5, 8, 2]
    for (weight, _, bias), linear in zip(with_masks, linear_weights(actor), strict=True):
        np.testing.assert_array_equal(weight, linear.detach().numpy())
        assert weight.dtype == np.float32 and bias.shape == (weight.shape[0],)


def test_actor_layers_reads_a_sparse_mlp_like_its_dense_actor():
    from rlx2.sparse.kernels import SparseMLP

    actor, masks = hand_masked_actor()
    sparse_actor = torch.nn.Module()
    sparse_actor.net = SparseMLP.from_dense(
        actor.net, masks, "tanh", actor.scaling.scale, actor.scaling.bias
    )
    sparse_actor.scaling = actor.scaling
    for got, expected in zip(actor_layers(sparse_actor), actor_layers(actor, masks), strict=True):
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ NumPy only


def test_numpy_policy_and_evaluate_import_no_torch():
    code = (
        "import sys, rlx2.deploy, rlx2.deploy.numpy_policy, rlx2.deploy.evaluate, rlx2.deploy.c_export; "
        "assert 'torch' not in sys.modules, 'rlx2.deploy imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rlx2_evaluate_runs_without_torch(exported):
    code = (
        "import sys; from rlx2.cli import main; "
        f"main(['evaluate', '--policy', {str(exported[('sac', 'rigl')])!r}, '--episodes', '1']); "
        "assert 'torch' not in sys.modules, 'rlx2 evaluate imported torch'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Pendulum-v1: return")


# ------------------------------------------------------------------ bad input


def test_export_of_an_unfinished_run_fails_with_one_line(runs, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_bytes((runs[("td3", "dense")] / "config.json").read_bytes())
    (unfinished / "summary.json").write_text('{"status": "running"}')
    code, err = run_cli(
        ["export", str(unfinished), "--out", str(tmp_path / "p.safetensors")], capsys
    )
    assert_one_line_error(code, err, "no final checkpoint")
    assert "running" in err and not (tmp_path / "p.safetensors").exists()


def test_export_of_a_directory_without_a_run_fails(tmp_path, capsys):
    code, err = run_cli(["export", str(tmp_path), "--out", str(tmp_path / "p.safetensors")], capsys)
    assert_one_line_error(code, err, "no rlx2 run there")


def test_export_of_a_corrupt_checkpoint_fails(runs, tmp_path, capsys):
    broken = tmp_path / "broken"
    for name in ("config.json", "summary.json"):
        (broken / name).parent.mkdir(exist_ok=True)
        (broken / name).write_bytes((runs[("td3", "rigl")] / name).read_bytes())
    (broken / "checkpoints").mkdir()
    good = (runs[("td3", "rigl")] / "checkpoints" / "final.pt").read_bytes()
    (broken / "checkpoints" / "final.pt").write_bytes(good[: len(good) // 2])
    code, err = run_cli(["export", str(broken), "--out", str(tmp_path / "p.safetensors")], capsys)
    assert_one_line_error(code, err, "unreadable checkpoint checkpoints/final.pt")


def test_export_refuses_to_overwrite(runs, exported, capsys):
    target = exported[("td3", "dense")]
    before = target.read_bytes()
    code, err = run_cli(["export", str(runs[("td3", "rigl")]), "--out", str(target)], capsys)
    assert_one_line_error(code, err, "exists; pass --overwrite")
    assert target.read_bytes() == before


def test_export_overwrite_replaces(runs, tmp_path, capsys):
    target = tmp_path / "p.safetensors"
    target.write_bytes(b"old")
    main(["export", str(runs[("td3", "rigl")]), "--out", str(target), "--overwrite"])
    assert "[csr]" in capsys.readouterr().out
    assert load_policy(target).metadata["method"] == "rigl"


def corrupt_files(good: Path, tmp_path: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "garbage": b"this is not a policy file at all",
        "truncated": data[: len(data) - 10],
        "other safetensors": save({"x": np.zeros(3, np.float32)}, metadata={"a": "b"}),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        paths[name].write_bytes(content)
    return paths


@pytest.mark.parametrize("kind", ["garbage", "truncated", "other safetensors", "missing"])
def test_evaluate_rejects_corrupt_files(kind, exported, tmp_path, capsys):
    paths = corrupt_files(exported[("td3", "dense")], tmp_path)
    path = paths.get(kind, tmp_path / "missing.safetensors")
    code, err = run_cli(["evaluate", "--policy", str(path), "--episodes", "1"], capsys)
    assert_one_line_error(code, err, f"--policy {path}: ")


def test_evaluate_rejects_a_policy_for_other_dimensions(exported, capsys):
    args = [
        "evaluate",
        "--policy",
        str(exported[("td3", "rigl")]),
        "--env",
        "MountainCarContinuous-v0",
    ]
    code, err = run_cli(args, capsys)
    assert_one_line_error(
        code, err, "is for obs_dim=3, act_dim=1 but --env MountainCarContinuous-v0 has obs_dim=2"
    )


def test_evaluate_rejects_an_unknown_env(exported, capsys):
    args = ["evaluate", "--policy", str(exported[("td3", "rigl")]), "--env", "NoSuchEnv-v9"]
    code, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "not a known Gymnasium task")


def test_evaluate_rejects_bad_episodes(exported, capsys):
    code, err = run_cli(
        ["evaluate", "--policy", str(exported[("td3", "rigl")]), "--episodes", "0"], capsys
    )
    assert_one_line_error(code, err, "--episodes must be >= 1")


def tampered(path: Path, tmp_path: Path, change) -> Path:
    from safetensors.numpy import load_file

    from rlx2.deploy.numpy_policy import _header_metadata

    tensors, metadata = load_file(path), _header_metadata(path.read_bytes())
    change(tensors, metadata)
    out = tmp_path / "tampered.safetensors"
    out.write_bytes(save(tensors, metadata))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t, m: t.pop("layer1.values"), "missing tensor 'layer1.values'"),
        (
            lambda t, m: t.update(action_scale=np.ones(2, np.float32)),
            "'action_scale' has shape (2,)",
        ),
        (lambda t, m: t.update({"layer0.bias": np.full(32, np.nan, np.float32)}), "non-finite"),
        (lambda t, m: t["layer2.indices"].__setitem__(0, 99), "outside [0, 32)"),
        (lambda t, m: m.update(act_dim="2"), "'layer2.indptr' has shape (2,), expected (3,)"),
        (lambda t, m: m.update(format_version="2"), "format_version 2 is not supported"),
        (
            lambda t, m: m.update(hidden_sizes="[32]"),
            "'layer1.indptr' has shape (33,), expected (2,)",
        ),
        (lambda t, m: t.update(extra=np.zeros(1, np.float32)), "unexpected tensors ['extra']"),
        (lambda t, m: m.pop("format"), "not an rlx2 policy file"),
    ],
)
def test_load_policy_names_what_is_wrong(change, message, exported, tmp_path):
    path = tampered(exported[("td3", "rigl")], tmp_path, change)
    with pytest.raises(PolicyFileError) as exc:
        load_policy(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_wrong_observation_size_names_both_sizes(exported):
    policy: NumpyPolicy = load_policy(exported[("td3", "dense")])
    with pytest.raises(ValueError, match=r"shape \(4,\); the policy expects \(3,\)"):
        policy(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        policy(np.zeros((2, 2, 3), np.float32))


# ------------------------------------------------------------------ C export (issue 13, part 1)

CC = shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no system C compiler (cc)")
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror"]
U = 2.0**-24  # unit roundoff of float32

RUN_HARNESS = """#include <stdio.h>
#include "{prefix}.h"
/* argv[1]: float32 observations [N, OBS_DIM]; argv[2]: float32 actions [N, ACT_DIM] out. */
int main(int argc, char **argv) {{
    float obs[{macro}_OBS_DIM], action[{macro}_ACT_DIM];
    FILE *in, *out;
    if (argc != 3 || !(in = fopen(argv[1], "rb")) || !(out = fopen(argv[2], "wb"))) return 2;
    while (fread(obs, sizeof obs, 1, in) == 1) {{
        {prefix}_act(obs, action);
        if (fwrite(action, sizeof action, 1, out) != 1) return 1;
    }}
    fclose(in);
    return fclose(out) != 0;
}}
"""


def compile_c(c_dir: Path, prefix: str, harness: str, name: str) -> Path:
    (c_dir / f"{name}.c").write_text(harness)
    exe = c_dir / name
    sources = [str(c_dir / f"{name}.c")]
    if f'#include "{prefix}.c"' not in harness:
        sources.append(str(c_dir / f"{prefix}.c"))
    cmd = [CC, *CFLAGS, "-I", str(c_dir), *sources, "-lm", "-o", str(exe)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return exe


def c_actions(c_dir: Path, prefix: str, obs: np.ndarray) -> np.ndarray:
    """Compile the generated C with a file-to-file harness and run it on obs [N, obs_dim]."""
    exe = compile_c(c_dir, prefix, RUN_HARNESS.format(prefix=prefix, macro=prefix.upper()), "run")
    obs_path, act_path = c_dir / "obs.bin", c_dir / "act.bin"
    np.ascontiguousarray(obs, dtype=np.float32).tofile(obs_path)
    subprocess.run([str(exe), str(obs_path), str(act_path)], check=True)
    return np.fromfile(act_path, dtype=np.float32).reshape(len(obs), -1)


def exact_actions_and_error_bound(record, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exact action [B, act] in float64, a bound on |any float32 evaluation - exact| [B, act]).

    The bound holds for every summation order (sequential C loops, NumPy's pairwise
    reduceat, BLAS with or without FMA): an inner product of n terms computed in float32 in
    any order errs by at most γ_n Σ|terms|, γ_n = nu / (1 - nu) (Higham, Accuracy and
    Stability of Numerical Algorithms, section 3.1). Each layer adds that to its inputs' error
    carried through |W|; ReLU and tanh are 1-Lipschitz; tanh itself may err by a few ulp
    (4 allowed), and the action scaling rounds twice. C and NumPy may each be anywhere
    within this bound of the exact action, so it is the honest tolerance between them.
    """
    x = obs.astype(np.float64).T  # [in, B], exact
    err = np.zeros_like(x)
    for i, layer in enumerate(record.layers):
        weight = np.abs(layer.dense_weight().astype(np.float64))  # [out, in]
        bias = layer.bias.astype(np.float64)[:, None]  # [out, 1]
        n = layer.n_in + 1  # the products and the bias
        gamma = n * U / (1 - n * U)
        y = layer.dense_weight().astype(np.float64) @ x + bias  # [out, B]
        err = weight @ err + gamma * (weight @ (np.abs(x) + err) + np.abs(bias))
        x = np.maximum(y, 0.0) if i < len(record.layers) - 1 else y
    t = np.tanh(x)  # [act, B]
    err_t = err + 4 * U * (np.abs(t) + err)
    scale = record.action_scale.astype(np.float64)[:, None]
    offset = record.action_bias.astype(np.float64)[:, None]
    exact = t * scale + offset
    bound = scale * err_t + 2 * U * (scale * (np.abs(t) + err_t) + np.abs(offset))
    return exact.T, bound.T


def assert_within_float32_bound(got: np.ndarray, record, obs: np.ndarray, what: str) -> None:
    exact, bound = exact_actions_and_error_bound(record, obs)
    excess = np.abs(got.astype(np.float64) - exact) - bound
    assert excess.max() <= 0, f"{what}: exceeds the float32 bound by {excess.max():.3g}"


def observations(obs_dim: int, count: int = 2000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=3.0, size=(count, obs_dim)).astype(np.float32)


def record_of(layers, scale, offset, algo="td3"):
    """The validated record of hand-made layers, through the bytes of a CSR policy file."""
    metadata = policy_metadata(layers, algo, "Toy-v0", len(scale), {})
    data = save(policy_tensors(layers, scale, offset, "csr"), {**metadata, "storage": "csr"})
    return policy_record_from_bytes(data)


@needs_cc
@pytest.mark.parametrize("layout", ["coo", "csr", "dense", "auto"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_c_export_computes_the_numpy_policy(case, layout, runs, exported, tmp_path):
    record = load_policy_record(exported[case])
    policy = c_policy(record, "pol", layout)
    write_c_policy(policy, tmp_path)
    obs = observations(3)
    got = c_actions(tmp_path, "pol", obs)  # [2000, 1]
    expected = load_policy(exported[case])(obs)
    assert got.shape == expected.shape == (2000, 1)
    assert_within_float32_bound(got, record, obs, "C")
    assert_within_float32_bound(expected, record, obs, "NumPy")  # the bound is sound
    # The worst-case bound is ~1000x the differences actually seen (on the Hopper actors:
    # bound 3e-4 to 4e-3, differences 6e-8 to 1.2e-6; docs/deploy.md), so also hold C to
    # 1e-5 of NumPy, the tolerance of the NumPy-vs-torch test above.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # auto: COO where it takes fewer bytes than the dense matrix (4 per weight): 4-byte value
    # and two 1-byte indices per active weight (all widths <= 255 here).
    by_bytes = tuple(
        "coo" if 6 * layer.num_active < 4 * layer.n_out * layer.n_in else "dense"
        for layer in record.layers
    )
    assert ("coo" in by_bytes) == case[1].startswith("rigl")
    expected_layouts = {"auto": by_bytes} | {kind: (kind,) * 3 for kind in ("coo", "csr", "dense")}
    assert policy.layouts == expected_layouts[layout]
    if layout == "auto":  # and the torch actor it came from (the NumPy tests' tolerance)
        agent, _, _ = load_final_agent(runs[case])
        np.testing.assert_allclose(got, torch_actions(agent, obs), rtol=0, atol=1e-5)


@needs_cc
@pytest.mark.parametrize("layout", ["coo", "csr", "dense"])
@pytest.mark.parametrize(
    ("widths", "density", "expect_types"),
    [
        ([5, 8, 7, 3, 2], 0.4, {"unsigned char"}),  # 3 hidden layers: the buffers alternate
        ([4, 2], 0.6, {"unsigned char"}),  # no hidden layer: obs -> action, no buffers
        # csr layer 0: indices >= 256 and rows of > 255 weights; layer 1: both fit 8 bits.
        # coo layer 0: input indices >= 256, output indices < 40.
        # dense: 300 = 37 blocks of 8 partial sums + a tail of 4; 40 = 5 blocks.
        ([300, 40, 2], 0.9, {"unsigned short", "unsigned char"}),
        ([6, 9, 9, 2], 0.0, set()),  # no active weight at all: every layer is its bias
    ],
)
def test_c_export_of_hand_made_policies(widths, density, expect_types, layout, tmp_path):
    rng = np.random.default_rng(len(widths) + int(10 * density))
    layers = random_layers(rng, widths, density)
    if density:
        layers[0][1][1] = False  # an empty row
        layers[0][0][1] = 0.0
    scale = rng.uniform(0.5, 3.0, widths[-1]).astype(np.float32)
    offset = rng.uniform(-1.0, 1.0, widths[-1]).astype(np.float32)
    record = record_of(layers, scale, offset)
    policy = c_policy(record, "toy", layout)
    write_c_policy(policy, tmp_path)
    obs = observations(widths[0], 500)
    got = c_actions(tmp_path, "toy", obs)
    assert_within_float32_bound(got, record, obs, "C")
    assert_within_float32_bound(NumpyPolicy.from_record(record, "csr")(obs), record, obs, "NumPy")
    int_types = {a.c_type for a in policy.arrays if a.c_type != "float"}
    assert int_types == (expect_types if layout != "dense" else set())
    hidden = widths[1:-1]
    buffers = max(hidden[0::2], default=0) + max(hidden[1::2], default=0)
    partial_sums = 8 if layout == "dense" and max(widths[:-1]) >= 32 else 0
    assert policy.work_bytes == 4 * (buffers + partial_sums)
    assert ("float part[8];" in policy.source) == bool(partial_sums)


@needs_cc
def test_c_footprint_is_what_the_compiler_allocates(tmp_path):
    rng = np.random.default_rng(5)
    layers = random_layers(rng, [11, 32, 24, 3], 0.2)
    layers[2] = (rng.normal(size=(3, 24)).astype(np.float32), np.ones((3, 24), bool), layers[2][2])
    record = record_of(layers, np.ones(3, np.float32), np.zeros(3, np.float32))
    policy = c_policy(record, "fp", "auto")
    write_c_policy(policy, tmp_path)
    # The header's figure, the arrays' sizeof on this compiler, and the arithmetic by hand.
    sizes = " + ".join(f"sizeof {array.name}" for array in policy.arrays)
    harness = (
        '#include <stdio.h>\n#include "fp.c"\n'
        f'int main(void) {{ printf("%lu %d %d\\n", (unsigned long)({sizes}), '
        "FP_CONST_BYTES, FP_WORK_BYTES); return 0; }\n"
    )
    exe = compile_c(tmp_path, "fp", harness, "footprint")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out] == [policy.const_bytes, policy.const_bytes, 4 * (32 + 24)]
    by_hand = 4 * (32 + 24 + 3) + 2 * 4 * 3  # biases, action scaling
    for (weight, mask, _), kind in zip(layers, policy.layouts, strict=True):
        by_hand += int(mask.sum()) * (4 + 1 + 1) if kind == "coo" else 4 * weight.size
    assert policy.const_bytes == by_hand and policy.layouts == ("coo", "coo", "dense")
    csr = c_policy(record, "fp", "csr")  # one index byte less per active weight, one per row
    assert csr.const_bytes == by_hand - sum(int(m.sum()) - m.shape[0] for _, m, _ in layers[:2]) - (
        4 * 3 * 24 - (5 * 3 * 24 + 3)
    )


def test_coo_lists_weights_column_by_column():
    rng = np.random.default_rng(3)
    ((weight, mask, bias),) = random_layers(rng, [9, 7], 0.4)
    record = record_of([(weight, mask, bias)], np.ones(7, np.float32), np.zeros(7, np.float32))
    expected = [(r, c, weight[r, c]) for c in range(9) for r in range(7) if mask[r, c]]
    rows, cols, values = column_order(record.layers[0])
    assert list(zip(rows.tolist(), cols.tolist(), values.tolist(), strict=True)) == expected


@needs_cc
@pytest.mark.parametrize("widths", [[5, 8, 7, 3, 2], [300, 40, 2], [4, 2]])
def test_coo_and_csr_compute_the_same_floats(widths, tmp_path):
    """Both add each output's products in input order, then the bias: bit for bit the same,
    for extreme observations too (signed zeros, infinities, NaN, overflowing products)."""
    rng = np.random.default_rng(sum(widths))
    layers = random_layers(rng, widths, 0.3)
    layers[0][1][1] = False  # an empty row
    layers[0][0][1] = 0.0
    scale, offset = np.full(widths[-1], 2.0, np.float32), np.zeros(widths[-1], np.float32)
    record = record_of(layers, scale, offset)
    obs = observations(widths[0], 300)
    obs[:10] = 0.0
    obs[10:20] = -0.0
    obs[20, 0], obs[21, :2], obs[22, 0] = np.inf, [np.inf, -np.inf], np.nan
    obs[30:40] = np.float32(3e38) * np.sign(obs[30:40])  # products overflow to inf
    got = {}
    for layout in ("coo", "csr"):
        write_c_policy(c_policy(record, layout, layout), tmp_path)
        got[layout] = c_actions(tmp_path, layout, obs)
    assert got["coo"].tobytes() == got["csr"].tobytes()


@needs_cc
def test_generated_c_needs_only_math_h_and_has_no_mutable_data(exported, tmp_path):
    policy = c_policy(load_policy_record(exported[("sac", "rigl")]), "sac_pol", "auto")
    write_c_policy(policy, tmp_path)
    includes = [line for line in policy.source.splitlines() if line.startswith("#include")]
    assert includes == ["#include <math.h>", '#include "sac_pol.h"']
    assert "#include" not in policy.header
    obj = tmp_path / "sac_pol.o"
    cmd = [CC, *CFLAGS, "-c", str(tmp_path / "sac_pol.c"), "-o", str(obj)]
    subprocess.run(cmd, check=True)
    if shutil.which("nm"):  # every symbol it needs from outside: tanhf
        nm = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True)
        assert [line.split()[-1] for line in nm.stdout.splitlines()] == ["tanhf"]
    if shutil.which("size"):  # no writable data: everything is const or on the stack
        size = subprocess.run(["size", str(obj)], capture_output=True, text=True, check=True)
        text, data, bss = (int(v) for v in size.stdout.splitlines()[1].split()[:3])
        assert data == 0 and bss == 0 and text >= policy.const_bytes


def test_c_float_literals_are_exact():
    values = np.array(
        [0.0, -0.0, 1.5, -2.75, 1e-45, 3.4028235e38, 0.1, -1 / 3, 1e-40], dtype=np.float32
    )
    array = CArray("x", "float", values.shape, values)
    text = _array_text(array)
    literals = text.split("{")[1].split("}")[0].replace(",", " ").split()
    assert all(lit.endswith("f") for lit in literals)
    parsed = np.array([float.fromhex(lit[:-1]) for lit in literals], dtype=np.float32)
    assert parsed.tobytes() == values.tobytes()  # bit for bit, signed zero included


@pytest.mark.parametrize("prefix", ["a", "Hopper_v5", "p" * 27])
def test_check_prefix_accepts_c_identifiers(prefix):
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "1pol", "_pol", "my-policy", "pol icy", "é", "p" * 28])
def test_export_rejects_a_bad_prefix(prefix, runs, tmp_path, capsys):
    args = ["export", str(runs[("td3", "dense")]), "--format", "c", "--out", str(tmp_path / "c")]
    code, err = run_cli([*args, "--prefix", prefix], capsys)
    assert_one_line_error(code, err, "is not a C identifier prefix")
    assert not (tmp_path / "c").exists()


@needs_cc
def test_rlx2_export_format_c_is_the_policy_files_c(runs, exported, tmp_path, capsys):
    case = ("td3", "rigl")
    out = tmp_path / "deep" / "c"  # created, parents too
    main(["export", str(runs[case]), "--format", "c", "--out", str(out), "--prefix", "hop"])
    line = capsys.readouterr().out
    policy = c_policy(load_policy_record(exported[case]), "hop", "auto")
    assert line.count("\n") == 1 and f"[C99, layers {'/'.join(policy.layouts)}]" in line
    assert f"constant data {policy.const_bytes} bytes" in line
    assert f"working memory {policy.work_bytes} bytes" in line
    # One definition: the C from the run is the C of the exported policy file, byte for byte.
    assert (out / "hop.c").read_text() == policy.source
    assert (out / "hop.h").read_text() == policy.header
    assert sorted(p.name for p in out.iterdir()) == ["hop.c", "hop.h"]  # no temporary left
    header = policy.header
    for macro, value in [("OBS_DIM", 3), ("ACT_DIM", 1), ("CONST_BYTES", policy.const_bytes)]:
        assert f"#define HOP_{macro} {value}\n" in header
    main(["export", str(runs[case]), "--format", "c", "--out", str(out / "d"), "--prefix", "hop"])
    dense = (out / "d" / "hop.c").read_text()
    assert dense == policy.source  # deterministic
    main(["export", str(runs[case]), "--format", "c", "--dense", "--out", str(out / "e")])
    assert "[C99, layers dense/dense/dense]" in capsys.readouterr().out
    assert (out / "e" / "policy.h").exists()


def test_export_format_c_refuses_to_overwrite(runs, tmp_path, capsys):
    out = tmp_path / "c"
    out.mkdir()
    (out / "policy.c").write_text("/* mine */")
    args = ["export", str(runs[("td3", "dense")]), "--format", "c", "--out", str(out)]
    code, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "already holds policy.c; pass --overwrite")
    assert (out / "policy.c").read_text() == "/* mine */" and not (out / "policy.h").exists()
    main([*args, "--overwrite"])
    assert "policy_act" in (out / "policy.c").read_text()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    code, err = run_cli([*args[:-1], str(not_a_dir)], capsys)
    assert_one_line_error(code, err, "is a file; with --format c it names a directory")


def test_c_export_rejects_layers_too_wide_for_16_bit_indices():
    rng = np.random.default_rng(0)
    layers = random_layers(rng, [MAX_WIDTH + 1, 1], 1e-4)
    record = record_of(layers, np.ones(1, np.float32), np.zeros(1, np.float32))
    with pytest.raises(ConfigError, match="at most 65535 units"):
        c_policy(record)
