# run の新規開始または再開
resumed_run = wandb.init(project="resume-incremental", id="your-run-id", resume="must")

# incremental テーブル作成（過去のデータから初期化は不要）
# インクリメントは Table artifact に追加されていきます
table = wandb.Table(columns=["step", "metric"], log_mode="INCREMENTAL")

# 続きからログ
for step in range(resume_step, final_step):
    metric = compute_metric(step)
    table.add_data(step, metric)
    resumed_run.log({"metrics": table}, step=step)

resumed_run.finish()
