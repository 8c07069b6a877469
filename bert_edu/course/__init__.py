"""Course tooling: notebook execution, the student edition, attention visualisation (notebook 06) and the
side-by-side bridge to `transformers` (notebook 09)."""
