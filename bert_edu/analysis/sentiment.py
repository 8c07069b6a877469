"""The model notebook 12 analyses: notebook 08's fine-tuned MiniLM sentiment classifier, or a quick stand-in.

Notebook 08 saves its model to ``checkpoint_dir("finetune-minilm-sentiment")``. When that folder is missing
(notebook 08 not run yet), :func:`sentiment_classifier` fine-tunes MiniLM the same way on a smaller share of
the training split (one epoch; about a minute on 2 CPU cores) and saves it under its own name, so that it is
built once and never mistaken for notebook 08's model.
"""

from __future__ import annotations

from pathlib import Path

NOTEBOOK_08 = "finetune-minilm-sentiment"
STAND_IN = "challenges-sentiment-stand-in"
STAND_IN_RECIPE = dict(train_examples=2000, epochs=1, lr=1e-4, batch_size=16, seed=0)


def build_stand_in(out: Path, log=print) -> Path:
    """Fine-tune MiniLM on the first ``STAND_IN_RECIPE['train_examples']`` training sentences; save to ``out``
    (written to a temporary folder first, then renamed, so an interrupted run leaves no half checkpoint)."""
    import shutil

    from bert_edu.data.sentiment import LABELS, sentiment_splits
    from bert_edu.train import common, finetune

    r = STAND_IN_RECIPE
    common.set_seed(r["seed"])
    model, tokenizer = finetune.build_classifier("minilm", LABELS, verbose=False)
    splits = sentiment_splits()
    train = finetune.encode(tokenizer, splits["train"][:r["train_examples"]])
    validation = finetune.encode(tokenizer, splits["validation"][:500])
    finetune.train_classifier(model, train, validation, epochs=r["epochs"], lr=r["lr"],
                              batch_size=r["batch_size"], seed=r["seed"], log=log, progress=False)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    finetune.save_classifier(model.cpu(), tokenizer, tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def sentiment_classifier(log=print):
    """(model in eval mode on the CPU, tokenizer, where it came from: 'notebook 08' or 'stand-in')."""
    from bert_edu.data.assets import checkpoint_dir
    from bert_edu.train.predict import load_classifier

    folder, source = checkpoint_dir(NOTEBOOK_08), "notebook 08"
    if not (folder / "model.safetensors").is_file():
        folder, source = checkpoint_dir(STAND_IN), "stand-in"
        if not (folder / "model.safetensors").is_file():
            log("notebook 08's model is missing: fine-tuning a stand-in (MiniLM, "
                f"{STAND_IN_RECIPE['train_examples']:,d} sentences, one epoch) ...")
            build_stand_in(folder, log=log)
    model, tokenizer = load_classifier(folder, device="cpu")
    return model.eval(), tokenizer, source
