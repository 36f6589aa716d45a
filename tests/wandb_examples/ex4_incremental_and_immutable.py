import tablelog as wandb

with wandb.init(project="combined-logging-example") as run:

    # トレーニング中の効率更新用に incremental テーブル作成
    incr_table = wandb.Table(columns=["step", "input", "prediction", "label"],
                            log_mode="INCREMENTAL")

    # トレーニングループ
    for step in range(get_num_batches()):
        # バッチ処理
        inputs, labels = get_training_batch(step)
        predictions = model.predict(inputs)

        # incremental テーブルにデータ追加
        for inp, pred, label in zip(inputs, predictions, labels):
            incr_table.add_data(step, inp, pred, label)

        # インクリメンタルな更新（-incr というキーで区別推奨）
        run.log({"table-incr": incr_table}, step=step)

    # トレーニング完了時、全データを使い immutable テーブルを作成
    # デフォルト（IMMUTABLE）でデータセット全体を保存
    final_table = wandb.Table(columns=incr_table.columns, data=incr_table.data, log_mode="IMMUTABLE")
    run.log({"table": final_table})
