"""A ready training pipeline on the breast_cancer data that ships with scikit-learn:
prepare_data -> train -> evaluate -> register (gated on AUC against production).

    modelplane pipelines run modelplane.pipelines.examples:breast_cancer -p C=0.5
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelplane.pipelines.dsl import pipeline, step
from modelplane.pipelines.gates import Gate, register

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODEL", "breast_cancer"]

MODEL = "breast-cancer"


@step(outputs=("train", "test"))
def prepare_data(test_size: float = 0.25, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=test_size, random_state=seed,
                                   stratify=frame["target"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


@step
def train(data: pd.DataFrame, C: float = 1.0, max_iter: int = 500) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelplane.pipelines.executors.base import current

    X, y = data.drop(columns=["target"]), data["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    model.fit(X, y)
    if current.task is not None:
        current.run.log_params({"C": C, "max_iter": max_iter, "model": "logistic-regression"})
        current.run.log_dataset(data, name="breast-cancer-train", role="train")
    return model


@step
def evaluate(model: Any, data: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    from modelplane.pipelines.executors.base import current

    X, y = data.drop(columns=["target"]), data["target"]
    metrics = {"auc": float(roc_auc_score(y, model.predict_proba(X)[:, 1])),
               "accuracy": float(accuracy_score(y, model.predict(X)))}
    if current.task is not None:
        current.run.log_metrics(metrics)
    return metrics


@pipeline(name="breast-cancer")
def breast_cancer(C: float = 1.0, max_iter: int = 500, test_size: float = 0.25,
                  seed: int = 0, model_name: str = MODEL, auc_tolerance: float = 0.0) -> Any:
    """``auc_tolerance``: how much lower than production's AUC the candidate may score
    and still pass the gate (0: it must beat production)."""
    train_data, test_data = prepare_data(test_size=test_size, seed=seed)
    model = train(train_data, C=C, max_iter=max_iter)
    metrics = evaluate(model, test_data)
    gate = Gate("auc", min_delta=-auc_tolerance) if auc_tolerance else Gate("auc")
    return register(model, model_name, eval_data=test_data, gates=[gate]).after(metrics)


# -- distributed data-parallel: the benchmark MLP ------------------------------------------

def mlp_data(n_rows: int, n_features: int, seed: int = 0) -> tuple[Any, Any]:
    """A synthetic regression set (the same on every rank): y = tanh(X w1) w2 + noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    w1 = rng.standard_normal((n_features, 16), dtype=np.float32) / np.sqrt(n_features)
    w2 = rng.standard_normal((16, 1), dtype=np.float32)
    y = np.tanh(X @ w1) @ w2 + 0.1 * rng.standard_normal((n_rows, 1), dtype=np.float32)
    return X, y.astype(np.float32)


def train_mlp(ctx: Any, *, n_rows: int = 200_000, n_features: int = 32, epochs: int = 3,
              batch_size: int = 256, lr: float = 0.05, seed: int = 0,
              checkpoint_every: int = 0, hook: Any = None) -> dict[str, Any]:
    """Train the benchmark MLP with DDP on ``ctx``: ``batch_size`` is the global batch (each
    rank takes its share), so any number of ranks follows the same trajectory as one
    process. Checkpoints every ``checkpoint_every`` steps and resumes from the newest.
    ``hook(global_step)`` runs before each step (fault injection in tests)."""
    import time

    import torch

    X_np, y_np = mlp_data(n_rows, n_features, seed)
    X = torch.from_numpy(X_np).to(ctx.device)
    y = torch.from_numpy(y_np).to(ctx.device)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(n_features, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 1))
    ddp = ctx.wrap(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9)
    sampler = ctx.sampler(X_np, shuffle=True, seed=seed)
    local = ctx.local_batch_size(batch_size)
    epoch0, batch0, step, resumed_from = 0, 0, 0, None
    state = ctx.load_checkpoint(map_location=ctx.device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch0, batch0, step = state["epoch"], state["batch"], state["step"]
        resumed_from = step
    loss_fn = torch.nn.MSELoss()
    samples, started = 0, time.perf_counter()
    for epoch in range(epoch0, epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)), device=ctx.device)
        batches = len(order) // local
        for b in range(batch0 if epoch == epoch0 else 0, batches):
            if hook is not None:
                hook(step)
            index = order[b * local:(b + 1) * local]
            with ctx.autocast():
                loss = loss_fn(ddp(X[index]).float(), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            samples += local * ctx.world_size
            if checkpoint_every and step % checkpoint_every == 0:
                ctx.save_checkpoint({"model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "epoch": epoch,
                                     "batch": b + 1, "step": step}, step=step)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        final = float(loss_fn(model(X), y).item())
    return {"final_loss": final, "samples_per_s": samples / seconds if seconds else 0.0,
            "train_seconds": seconds, "steps": step, "resumed_from_step": resumed_from,
            "world_size": ctx.world_size, "backend": ctx.backend, "device": str(ctx.device)}


def ddp_pipeline(nproc_per_node: int = 2, *, nnodes: int = 1, rdzv_endpoint: str | None = None,
                 retries: int = 0, bf16: bool = False, name: str = "ddp-mlp") -> Any:
    """A one-step pipeline training the benchmark MLP under torchrun with this layout."""
    from modelplane.pipelines.dsl import Torchrun

    spec = Torchrun(nproc_per_node=nproc_per_node, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint,
                    bf16=bf16)

    @step(name="train_mlp", distributed=spec, retries=retries, retry_delay=0.0, cache=False)
    def train_step(ctx: Any, n_rows: int = 200_000, epochs: int = 3, batch_size: int = 256,
                   checkpoint_every: int = 0) -> dict:
        return train_mlp(ctx, n_rows=n_rows, epochs=epochs, batch_size=batch_size,
                         checkpoint_every=checkpoint_every)

    def build(n_rows: int = 200_000, epochs: int = 3, batch_size: int = 256,
              checkpoint_every: int = 0) -> Any:
        return train_step(n_rows=n_rows, epochs=epochs, batch_size=batch_size,
                          checkpoint_every=checkpoint_every)

    return pipeline(build, name=name)
