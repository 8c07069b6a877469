"""Analyses of a trained BERT for notebook 12 (the article's open challenges): token attributions and the
deletion test (attribution), linear probes per layer (probing), knowledge distillation (distillation),
int8 quantization and head pruning (compression), the cost of training and inference (cost), and the
intervals every comparison is reported with (stats)."""
