import tablelog as wandb

with wandb.init(project="incremental-table-demo") as run:

    # INCREMENTAL ログモードのテーブル作成
    table = wandb.Table(columns=["step", "input", "label", "prediction"],
                        log_mode="INCREMENTAL")

    # トレーニングループ
    for step in range(get_num_batches()): # ダミー関数
        # バッチデータの取得
        inputs, labels = get_training_batch(step) # ダミー関数

        # モデル学習と予測
        train_model_on_batch(inputs, labels) # ダミー関数
        predictions = predict_on_batch(inputs) # ダミー関数

        # バッチのデータをテーブルに追加
        for input_item, label, prediction in zip(inputs, labels, predictions):
            table.add_data(step, input_item, label, prediction)

        # テーブルの状態をインクリメンタルにログ
        run.log({"training_table": table}, step=step)
