"""The spectrum along training: checkpoints, the trajectory study, gradient overlap, rescaling."""

import numpy as np
import pytest
import torch

from core import cache, pipeline, progress, trajectory, workspace
from core.curvature import dense
from factories import SMALL, tiny_problem

GD = SMALL.replace(optimizer="gd", lr=0.5, epochs=30, checkpoints=6)


def flat(state):
    return np.concatenate([v.ravel() for v in state.values()])


def test_checkpoints_reload_to_identical_parameters(fresh_cache):
    trained = pipeline.train(GD)
    steps = [c["step"] for c in trained.checkpoints]
    assert steps[0] == 0 and steps[-1] == 30 and len(steps) == 6
    last = pipeline.build_problem(GD.replace(checkpoint=5))
    np.testing.assert_array_equal(last.flat_params().numpy(), flat(trained.state))
    first = pipeline.build_problem(GD.replace(checkpoint=0))
    from core.models import build_model

    initial = build_model(GD, 5, 10)
    np.testing.assert_array_equal(first.flat_params().numpy(),
                                  torch.cat([p.detach().reshape(-1) for p in initial.parameters()]).numpy())
    assert pipeline.COMPUTE_COUNTS["train"] == 1  # checkpoints never retrain


def test_the_last_checkpoint_equals_the_single_model_result_and_a_resumed_study_equals_an_uninterrupted_one(tmp_path):
    with workspace.using(cache_dir=tmp_path / "whole"):
        whole = trajectory.trajectory(GD, k=3)
        single = pipeline.run(GD, "exact_hessian")
    assert whole[-1]["top"] == float(single.top[0]) and whole[-1]["trace"] == float(single.trace)

    class Killed(Exception):
        pass

    def kill_at_the_third_checkpoint(counts):
        if counts.stage is not None and counts.stage.index == 2:
            raise Killed

    with workspace.using(cache_dir=tmp_path / "resumed"):
        with pytest.raises(Killed), progress.listening(kill_at_the_third_checkpoint):
            trajectory.trajectory(GD, k=3)
        cache.COMPUTE_COUNTS.clear()
        resumed = trajectory.trajectory(GD, k=3)
    assert cache.COMPUTE_COUNTS["trajectory_point"] == 4 and cache.COMPUTE_COUNTS["train"] == 0
    assert resumed == whole


def test_a_trajectory_computes_every_fourth_checkpoint_first_and_says_each_step(fresh_cache):
    seen, stages = [], []
    with progress.listening(lambda counts: counts.stage is not None and stages.append(counts.stage.text)):
        rows = trajectory.trajectory(GD, k=3, on_rows=lambda so_far, total: seen.append(
            ([r["checkpoint"] for r in so_far], total)))
    assert [checkpoints for checkpoints, _ in seen[:3]] == [[0], [0, 4], [0, 4, 5]]  # the run's shape first
    assert seen[-1] == ([0, 1, 2, 3, 4, 5], 6) and {total for _, total in seen} == {6}
    assert [r["checkpoint"] for r in rows] == list(range(6)) and rows[0]["top_k_overlap_final"] is not None
    steps = [c["step"] for c in pipeline.train(GD).checkpoints]
    assert list(dict.fromkeys(s for s in stages if s.startswith("the checkpoint"))) == [
        f"the checkpoint at step {steps[i]}" for i in trajectory.coarse_first(6)]


def test_gradient_overlap_is_one_for_k_equal_p_and_matches_a_dense_projection():
    problem = tiny_problem("tanh", hidden=(4,), inputs=3, n=12)
    assert trajectory.gradient_overlap(problem, problem.num_params) == pytest.approx(1.0, abs=1e-10)
    h = dense.dense_matrix(problem, dtype=torch.float64).numpy()
    _, vectors = np.linalg.eigh(h)
    g = problem.gradient().numpy()
    top = vectors[:, -3:]
    expected = float(np.sum((top.T @ g) ** 2) / (g @ g))
    assert trajectory.gradient_overlap(problem, 3) == pytest.approx(expected, rel=1e-6)


def test_rescaled_relu_net_has_the_same_outputs_and_hessian_d_inverse_h_d_inverse():
    problem = tiny_problem("relu", hidden=(5, 4), inputs=3, n=16)
    model, d = trajectory.rescale(problem.model, 7.0)
    from core.problem import Problem

    rescaled = Problem(model, problem.x, problem.labels)
    torch.testing.assert_close(model(problem.x), problem.model(problem.x), rtol=1e-12, atol=1e-12)
    h = dense.dense_matrix(problem, dtype=torch.float64)
    h_rescaled = dense.dense_matrix(rescaled, dtype=torch.float64)
    expected = h / d[:, None] / d[None, :]
    torch.testing.assert_close(h_rescaled, expected, rtol=1e-8, atol=1e-10 * float(h.abs().max()))
    assert abs(dense.eigenvalues(h_rescaled)[-1] - dense.eigenvalues(h)[-1]) > 1e-3  # sharpness moved


def test_rescaling_study_and_edge_of_stability_summary(fresh_cache):
    study = trajectory.rescaling(SMALL, 10.0)
    assert study["max_output_difference"] < 1e-4 and study["accuracy"][0] == study["accuracy"][1]
    assert study["rescaled"]["top"] != pytest.approx(study["original"]["top"], rel=1e-2)
    matrices = {"objective_top, objective_trace": "the objective"}
    rows = [{"step": s, "top": t + 1, "objective_top": t, "two_over_lr": 4.0, "matrices": matrices}
            for s, t in [(0, 1.0), (10, 3.9), (20, 4.2), (30, 4.05)]]
    summary = trajectory.edge_of_stability(rows)
    assert summary["steps_within"] == [10, 30] and summary["peak_ratio"] == pytest.approx(1.05)
    assert summary["batch_peak"] == pytest.approx(5.2)  # the batch's, beside it, never judged


def test_the_training_page_follows_training_and_its_checkpoint_moves_the_other_pages(fresh_cache):
    from streamlit.testing.v1 import AppTest

    from factories import ROOT

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    state = {"cfg_dataset": "synthetic", "cfg_hidden": "6", "cfg_hessian_batch_size": 48, "cfg_epochs": 30,
             "cfg_optimizer": "gd", "cfg_lr": 0.5, "cfg_checkpoints": 6, "cfg_methods": ["pyhessian_top_k", "kfac"],
             "cfg_samples": 30}
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("views/training.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown)
    assert "Edge of stability" in text and "Gradient in the top eigenspace" in text
    at.select_slider(key="training_step").set_value("step 0").run()
    assert at.session_state["cfg_checkpoint"] == 0
    at.switch_page("views/top_eigenvalues.py").run()
    assert not at.exception and not at.error
    assert at.session_state["_selection"].config.checkpoint == 0  # this page now analyses checkpoint 0
    assert at.sidebar.selectbox(key="cfg_checkpoint").value == 0


def test_the_edge_of_stability_button_sets_up_a_run_the_page_can_show(fresh_cache):
    from streamlit.testing.v1 import AppTest

    from factories import ROOT

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=600)
    for key, value in {"cfg_dataset": "synthetic", "cfg_hessian_batch_size": 48, "cfg_epochs": 2,
                       "cfg_methods": ["kfac"], "cfg_samples": 30}.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("views/training.py").run()
    assert "keeps no checkpoints" in " ".join(i.value for i in at.info)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["cfg_epochs"] == 400 and at.session_state["cfg_optimizer"] == "gd"
    assert "Edge of stability" in " ".join(m.value for m in at.markdown)


def test_a_diverged_run_is_said_not_crashed(fresh_cache):
    """Squared error with too large a step diverges to inf/NaN: every method says why it cannot run
    at those checkpoints, and the trajectory still reports the finite ones."""
    from core import pipeline, trajectory
    from core.config import ExperimentConfig

    config = ExperimentConfig(dataset="digits", activation="tanh", hidden=(8,), optimizer="gd", lr=4.0, loss="mse",
                              epochs=40, checkpoints=6, hessian_batch_size=100)
    losses = [c["train_loss"] for c in pipeline.train(config).checkpoints]
    assert not np.isfinite(losses[-1]) and np.isfinite(losses[0])
    final = pipeline.run(config, "exact_hessian")
    assert not final.ok and "not finite at these parameters" in final.error and "lower the learning rate" in final.error
    rows = trajectory.trajectory(config)
    assert rows[0]["top"] is not None and rows[-1]["top"] is None
    assert np.isnan(rows[-1]["top_k_gradient_fraction"])


def test_the_edge_of_stability_is_measured_on_the_objective_gradient_descent_steps_on(fresh_cache):
    """GD steps on the mean loss over all 300 training examples; the Hessian batch is 48 of them.
    The two top eigenvalues differ, and the trajectory reports and judges the objective's."""
    rows = trajectory.trajectory(GD, k=3)
    last = rows[-1]
    whole = GD.replace(checkpoint=5, hessian_batch_size=GD.train_subset)
    objective = pipeline.run(whole, "exact_hessian")
    batch = pipeline.run(GD.replace(checkpoint=5), "exact_hessian")
    assert last["objective_top"] == float(objective.top[0]) and last["top"] == float(batch.top[0])
    assert abs(last["objective_top"] - last["top"]) > 1e-3 * abs(last["top"])  # another matrix, another number
    assert "all 300 training examples" in last["matrices"]["objective_top, objective_trace"]
    summary = trajectory.edge_of_stability(rows)
    assert summary["peak"] == max(r["objective_top"] for r in rows)
    assert summary["batch_peak"] == max(r["top"] for r in rows) and summary["peak"] != summary["batch_peak"]
    assert cache.COMPUTE_COUNTS["train"] == 1  # the objective's problem reuses the training
    assert "objective_top" not in trajectory.trajectory(SMALL.replace(checkpoints=2), k=3)[0]  # adam: no such claim
