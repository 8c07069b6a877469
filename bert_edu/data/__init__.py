"""The course's data: pinned offline assets (notebook 00), the sentiment split (08), the pretraining corpus and
MLM + NSP example creation (07), classification, CoNLL and SQuAD files (08, 10, 11). Never imports the training
code; tokenizers are passed in."""
