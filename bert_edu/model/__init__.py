"""The BERT you build: config, embeddings (notebook 02), attention (03), encoder (04), the model and its heads
(05, 07, 08, 10, 11), and the name map to `transformers` checkpoints. Depends on torch only."""
