"""``modelplane quickstart``: the tour on embedded defaults, nothing to start.

Trains two scikit-learn models on the breast_cancer data that ships with scikit-learn,
tracks both runs (params, metrics per step, datasets), registers them, promotes, rolls
back, searches and loads a model by URI; defines a feature view and reads it online; then
closes the loop: serves the model through a deployment, drifted traffic fires an alert
that runs the retraining pipeline, the new version is canaried and promoted, and a bad
release is canaried and rolled back automatically. Each step prints what happened.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["quickstart"]

MODEL = "breast-cancer"
EXPERIMENT = "quickstart"


def quickstart() -> None:
    """Walk through modelplane on ~/.modelplane (or $MODELPLANE_HOME): track, register,
    promote, roll back, search and load a model."""
    from rich.console import Console

    from modelplane.cli.info import collect_info
    from modelplane.core.config import get_settings

    if get_settings().server_url:
        from modelplane.core.errors import ConfigurationError

        raise ConfigurationError(
            "the quickstart runs embedded (it serves models and runs the closed loop in "
            "this process); unset MODELPLANE_SERVER_URL to run it",
            details={"field": "MODELPLANE_SERVER_URL"})
    console = Console()
    console.rule("[bold]modelplane quickstart")
    facts = collect_info()
    console.print(f"[green]✓[/] home {facts['home']} (metadata: {facts['database_backend']}, "
                  f"schema {facts['schema_revision']}; artifacts: {facts['artifact_root']})")
    import modelplane as mp

    client = mp.Client()
    data = _load_data()
    versions = [_train(client, console, data, c=c) for c in (1.0, 0.01)]
    _registry_tour(client, console, [v.version for v in versions])
    _search_and_load(client, console, data)
    from modelplane.cli.quickstart_features import features_tour

    features_tour(client, console, data)
    from modelplane.cli.quickstart_loop import closed_loop_tour

    sent = closed_loop_tour(client, console, data)
    folder = _write_samples(facts["home"], data, sent)
    console.print(f"[green]✓[/] sample inputs in {folder}: record.json (one /predict record), "
                  "rows.csv (rows for `modelplane predict`), labels.csv (the true labels of "
                  "the requests sent, for `modelplane monitor labels`)")
    console.rule("[bold]next (the README's tour goes on from here)")
    for line in NEXT:
        console.print(f"  {line}", markup=False, highlight=False)


NEXT = (
    "modelplane runs list --experiment quickstart",
    "modelplane runs history logreg-C1.0 auc   # a run by name, id, or the short id shown",
    f"modelplane models history {MODEL}",
    "modelplane features list",
    "modelplane pipelines list                 # the retraining run the alert started",
    "modelplane deploy show breast-cancer-live",
    "modelplane monitor report breast-cancer --window 1h",
    "modelplane server     # web UI at http://127.0.0.1:8000/, REST under /api/v1",
)


def _write_samples(home: Any, data: dict[str, Any], sent: list[str]) -> Any:
    """HOME/quickstart/: inputs to try the CLI and HTTP with (see the README's tour)."""
    import json
    from pathlib import Path

    folder = Path(home) / "quickstart"
    folder.mkdir(parents=True, exist_ok=True)
    features, test = data["features"], data["test"]
    record = {k: float(v) for k, v in test[features].iloc[0].items()}
    (folder / "record.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    test[features].to_csv(folder / "rows.csv", index=False)
    label = int(data["train"]["target"].iloc[0])  # the drifted requests scale that row
    lines = ["request_id,label", *(f"{rid},{label}" for rid in sent)]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _load_data() -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=0,
                                   stratify=frame["target"])
    return {"train": train, "test": test, "features": [c for c in frame if c != "target"]}


def _train(client: Any, console: Any, data: dict[str, Any], *, c: float) -> Any:
    from rich.progress import Progress
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, train, test = data["features"], data["train"], data["test"]
    X, y, X_test, y_test = train[features], train["target"], test[features], test["target"]
    params = {"C": c, "max_iter": 200, "model": "logistic-regression"}
    with client.start_run(EXPERIMENT, name=f"logreg-C{c}", params=params,
                          tags={"team": "quickstart"}) as run:
        _log_data(run, train, test)
        with Progress(console=console, transient=True) as progress, warnings.catch_warnings():
            # early steps stop the solver short on purpose: the curve is the point
            warnings.simplefilter("ignore", ConvergenceWarning)
            task = progress.add_task(f"training C={c}", total=20)
            for step in range(1, 21):
                model = make_pipeline(StandardScaler(),
                                      LogisticRegression(C=c, max_iter=step * 10)).fit(X, y)
                scores = model.predict_proba(X_test)[:, 1]
                run.log_metrics({"auc": roc_auc_score(y_test, scores),
                                 "accuracy": accuracy_score(y_test, model.predict(X_test))},
                                step=step)
                progress.advance(task)
        version = run.log_model(model, MODEL, input_example=X.iloc[:5])
    final = client.tracking.get_run(run.id)
    console.print(f"[green]✓[/] run {final.name} ({final.id[-8:]}) {final.status}: "
                  f"auc={final.metrics['auc']:.4f} accuracy={final.metrics['accuracy']:.4f}; "
                  f"datasets train+eval versioned; registered [bold]{MODEL}:{version.version}"
                  f"[/] ({version.flavor}, {version.size / 1024:.0f} KiB)")
    return version


def _log_data(run: Any, train: Any, test: Any) -> None:
    """Version both splits and keep them as run artifacts (data/*.parquet): what the run
    trained and was evaluated on stays readable, e.g. by `models optimize`."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="modelplane-quickstart-") as tmp:
        for frame, name, role in ((train, "train", "train"), (test, "test", "eval")):
            path = Path(tmp) / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            run.log_artifact(path, f"data/{name}.parquet")
            run.log_dataset(str(path), name=f"breast-cancer-{name}", role=role)


def _registry_tour(client: Any, console: Any, versions: list[int]) -> None:
    registry = client.registry
    first, second = versions
    registry.set_stage(MODEL, first, "production", reason="quickstart: first model")
    registry.set_alias(MODEL, "champion", first)
    console.print(f"[green]✓[/] {MODEL}:{first} → production, alias @champion")
    registry.set_stage(MODEL, second, "production", reason="quickstart: challenger")
    archived = registry.get_version(MODEL, first).stage
    console.print(f"[green]✓[/] {MODEL}:{second} → production ({MODEL}:{first} is now "
                  f"{archived}, in the same transaction)")
    back = registry.rollback(MODEL, "production", reason="quickstart: roll back")
    console.print(f"[green]✓[/] rollback: production is {MODEL}:{back.version} again")
    from rich.table import Table

    table = Table(title=f"audit log of {MODEL} (newest 6)", title_justify="left")
    for column in ("when", "version", "action", "change", "reason"):
        table.add_column(column)
    for entry in registry.history(MODEL, limit=6):
        change = f"{entry.from_value or '-'} → {entry.to_value or '-'}"
        table.add_row(entry.at.strftime("%H:%M:%S"), str(entry.version or ""), entry.action,
                      change, entry.reason)
    console.print(table)


def _search_and_load(client: Any, console: Any, data: dict[str, Any]) -> None:
    import modelplane as mp

    query = "metrics.auc > 0.9 and (params.C = '1.0' or tags.team = 'quickstart')"
    page = client.tracking.search_runs(query, experiments=[EXPERIMENT],
                                       order_by="metrics.auc desc", max_results=5)
    console.print(f"[green]✓[/] search [italic]{query}[/]: {len(page.runs)} run(s), best auc "
                  f"{page.runs[0].metrics['auc']:.4f}" if page.runs else "no runs")
    model = mp.load_model(f"models:/{MODEL}@production")
    rows = data["test"][data["features"]].head(3)
    predictions = model.predict(rows.to_dict(orient="records"))
    console.print(f"[green]✓[/] models:/{MODEL}@production loaded (digest verified); "
                  f"predictions for 3 records: {list(map(int, predictions))}")
