# W&B's answer on computed columns: add_computed_columns(fn) with fn(index, row).
import tablelog as wandb

tbl = wandb.Table(columns=["user"])
users = ["geoff", "juergen", "ada"]
[tbl.add_data(user) for user in users]
assert tbl.get_column("user") == users


def get_user_name_length(index, row):
    return {"feature_01": len(row["user"])}


tbl.add_computed_columns(get_user_name_length)
assert tbl.get_column("feature_01") == [5, 7, 3]

with wandb.init(project="computed") as run:
    wandb.log({"my_table": tbl})
