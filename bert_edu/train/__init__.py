"""Training and using the model: device and mixed precision, shared optimiser/schedule utilities, pretraining
(notebook 07), fine-tuning (08) and prediction. The command lines live here."""
