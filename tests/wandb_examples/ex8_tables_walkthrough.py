# W&B's "Log tables" walkthrough (docs: guides/tables/tables-walkthrough): a table from
# rows, and one from a pandas DataFrame, in the module-level style.
import pandas as pd

import tablelog as wandb

run = wandb.init(project="table-test")
my_table = wandb.Table(columns=["a", "b"], data=[["a1", "b1"], ["a2", "b2"]])
run.log({"Table Name": my_table})

df = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})
df_table = wandb.Table(dataframe=df)
wandb.log({"DataFrame Table": df_table})
wandb.finish()
