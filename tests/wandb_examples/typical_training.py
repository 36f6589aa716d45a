# A typical W&B training script, module-level style, with `import wandb` replaced by
# `import tablelog as wandb` and nothing else changed (small data; no model).
import numpy as np
import pandas as pd

import tablelog as wandb

config = {"lr": 1e-3, "epochs": 3, "batch_size": 4, "optimizer": {"name": "adam", "beta1": 0.9}}
wandb.init(project="typical", config=config, tags=["baseline"], notes="smoke", group="g1",
           job_type="train", entity="my-team", save_code=True)
wandb.config.update({"seed": 0})
wandb.define_metric("val/loss", summary="min")

rng = np.random.default_rng(0)
predictions = wandb.Table(columns=["epoch", "id", "image", "pred", "label"], log_mode="INCREMENTAL")
step = 0
for epoch in range(wandb.config.epochs):
    for batch in range(4):
        loss = 1.0 / (1 + step)
        wandb.log({"train/loss": loss, "epoch": epoch}, commit=False)
        wandb.log({"train/lr": wandb.config["lr"]})
        step += 1
    pixels = rng.random((8, 8, 3))
    for i in range(2):
        predictions.add_data(epoch, f"{epoch}-{i}", wandb.Image(pixels * (i + 1) / 2), i, i % 2)
    wandb.log({
        "val/loss": 0.5 / (epoch + 1),
        "val/acc": 0.6 + 0.1 * epoch,
        "samples": wandb.Image(pixels, caption=f"epoch {epoch}"),
        "predictions": predictions,
    })

per_class = pd.DataFrame({"class": ["cat", "dog"], "precision": [0.8, 0.7], "recall": [0.75, 0.9]})
wandb.log({"per_class": per_class})
wandb.summary["best_epoch"] = 2
wandb.finish()
