
with wandb.init(project="batch-training-incremental") as run:

    # incremental テーブル作成
    table = wandb.Table(columns=["step", "input", "label", "prediction"], log_mode="INCREMENTAL")

    # サンプルのトレーニングループ
    for step in range(get_num_batches()):
        # バッチデータ取得
        inputs, labels = get_training_batch(step)

        # このバッチでモデルを学習
        train_model_on_batch(inputs, labels)

        # モデル推論
        predictions = predict_on_batch(inputs)

        # テーブルにデータを追加
        for input_item, label, prediction in zip(inputs, labels, predictions):
            table.add_data(step, input_item, label, prediction)

        # 現在のテーブル状態をインクリメンタルにログ
        run.log({"training_table": table}, step=step)
