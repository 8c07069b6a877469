"""Text to ids: BERT's tokenizer (normalisation + WordPiece) and WordPiece training (notebook 01)."""
