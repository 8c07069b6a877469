"""The course's data: pinned offline assets, the sentiment split, the pretraining corpus, classification files
and MLM + NSP example creation. Never imports the model or the training code."""
