# W&B's "Log tables" guide (guides/track/log/log-tables): predictions on images, rows
# given up front with image files, then added one by one with image arrays; then
# the guide's add_column, get_column and iterrows.
import numpy as np

import tablelog as wandb

with wandb.init(project="image-predictions") as run:
    my_data = [
        [0, wandb.Image("img_0.jpg"), 0, 0],
        [1, wandb.Image("img_1.jpg"), 8, 0],
        [2, wandb.Image("img_2.jpg"), 7, 1],
        [3, wandb.Image("img_3.jpg"), 1, 1],
    ]
    columns = ["id", "image", "prediction", "truth"]
    test_table = wandb.Table(data=my_data, columns=columns)
    for img_id, img in enumerate(mnist_test_data):
        true_label = mnist_test_data_labels[img_id]
        guess_label = my_model.predict(img)
        test_table.add_data(img_id + 4, wandb.Image(img), guess_label, true_label)
    test_table.add_column(name="confidence", data=np.linspace(0.5, 1.0, test_table.num_rows))
    ids = test_table.get_column("id")
    correct = [row[2] == row[3] for _ndx, row in test_table.iterrows()]
    run.log({"test_table": test_table})
