import tablelog as wandb
import numpy as np

with wandb.init(project="mutable-logging") as run:

    # ステップ1: 初期予測値のログ
    table = wandb.Table(columns=["input", "label", "prediction"], log_mode="MUTABLE")
    inputs, labels = load_eval_data()
    raw_preds = model.predict(inputs)

    for inp, label, pred in zip(inputs, labels, raw_preds):
        table.add_data(inp, label, pred)

    run.log({"eval_table": table})  # 予測値をログ

    # ステップ2: 信頼度スコア（max softmax等）追加
    confidences = np.max(raw_preds, axis=1)
    table.add_column("confidence", confidences)
    run.log({"eval_table": table})  # 信頼度を追加

    # ステップ3: 後処理した予測値を追加
    # （閾値処理やスムージングなど）
    post_preds = (confidences > 0.7).astype(int)
    table.add_column("final_prediction", post_preds)
    run.log({"eval_table": table})
