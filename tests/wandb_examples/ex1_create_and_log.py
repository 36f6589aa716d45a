import tablelog as wandb

# 新しい run を開始
with wandb.init(project="table-demo") as run:

    # 2列・2行の Table オブジェクトを作成
    my_table = wandb.Table(
        columns=["a", "b"],
        data=[["a1", "b1"], ["a2", "b2"]],
        log_mode="IMMUTABLE"
        )

    # テーブルを W&B にログ
    run.log({"Table Name": my_table})
