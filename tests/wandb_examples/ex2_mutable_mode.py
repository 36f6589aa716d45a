import tablelog as wandb
import numpy as np

with wandb.init(project="mutable-table-demo") as run:

    # MUTABLE ログモードでテーブル作成
    table = wandb.Table(columns=["input", "label", "prediction"],
                        log_mode="MUTABLE")

    # データをロードして予測を計算
    inputs, labels = load_eval_data() # ダミー関数
    raw_preds = model.predict(inputs) # ダミー関数

    for inp, label, pred in zip(inputs, labels, raw_preds):
        table.add_data(inp, label, pred)

    # ステップ1: 初期データをログ
    run.log({"eval_table": table})  # テーブルをログ

    # ステップ2: 信頼度スコアを追加（例: softmax 最大値）
    confidences = np.max(raw_preds, axis=1)
    table.add_column("confidence", confidences)
    run.log({"eval_table": table})  # 信頼度をログ

    # ステップ3: 最終予測値を追加
    # （例: 阈値処理やスムージングなど後処理）
    post_preds = (confidences > 0.7).astype(int)
    table.add_column("final_prediction", post_preds)
    run.log({"eval_table": table})  # 列追加をログ
