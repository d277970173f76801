#!/usr/bin/env python3
"""Rebuild a charrnn checkpoint in plain PyTorch and score text with it.

    python3 load_checkpoint.py RUN_OR_CHECKPOINT DATA [--column title] [--label-column label]

DATA is a Parquet file (needs pyarrow), a CSV file in the AG News layout (label, title,
description; no header) or with a header row, or a plain text file (one text per line).
Prints the bits per character that `charrnn eval` reports for the same data.

Everything a reader needs to know about a checkpoint directory is here:
- config.json: `model` holds the shape (cell, input, hidden, num_layers, vocab_size,
  num_labels, label_dim); `data` holds how texts were framed (`label_values`, ...).
- model.safetensors: PyTorch's own names and layouts: `rnn.weight_ih_l{k}`,
  `rnn.weight_hh_l{k}`, `rnn.bias_ih_l{k}`, `rnn.bias_hh_l{k}` exactly as `nn.LSTM`/`nn.GRU`/
  `nn.RNN` hold them (LSTM gates i, f, g, o), `embedding.weight`, `label_embedding.weight`,
  `output.weight`, `output.bias`.
- tokenizer.json: a Hugging Face tokenizer; id 0 is <pad>, then characters by frequency, then
  <eos>, <unk>, <bos>. Unknown characters become <unk>.
- A text is scored as input = [<bos>] + ids, target = ids + [<eos>]; the label vector (the
  label's position in the sorted `label_values`, embedded) is concatenated after the
  character vector at every step; bpc = total cross-entropy / targets / ln 2.
"""
import argparse
import csv
import json
import math
import os
import struct
import sys
import warnings

warnings.filterwarnings("ignore", message=".*NumPy.*")
import torch  # noqa: E402
from torch import nn  # noqa: E402

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[meta["dtype"]])
        tensors[name] = t.reshape(meta["shape"]).float()
    return tensors


def resolve(path):
    for sub in ("", "best", "last"):
        d = os.path.join(path, sub)
        if os.path.isfile(os.path.join(d, "config.json")):
            return d
    sys.exit(f"error: {path}: not a checkpoint or run directory")


class CharRnn(nn.Module):
    def __init__(self, m):
        super().__init__()
        v, h = m["vocab_size"], m["hidden"]
        self.one_hot = "one_hot" in m["input"] or m["input"] == "one_hot"
        width = v if self.one_hot else m["input"]["embedding"]["dim"]
        if not self.one_hot:
            self.embedding = nn.Embedding(v, width)
        self.num_labels = m.get("num_labels")
        if self.num_labels:
            self.label_embedding = nn.Embedding(self.num_labels, m["label_dim"])
            width += m["label_dim"]
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[m["cell"]]
        self.rnn = cell(width, h, m["num_layers"], batch_first=True)
        self.output = nn.Linear(h, v)
        self.vocab_size = v

    def forward(self, ids, labels=None):
        if self.one_hot:
            x = nn.functional.one_hot(ids, self.vocab_size).float()
        else:
            x = self.embedding(ids)
        if self.num_labels:
            lab = self.label_embedding(labels)[:, None, :].expand(-1, ids.shape[1], -1)
            x = torch.cat([x, lab], dim=-1)
        out, _ = self.rnn(x)
        return self.output(out)


def read_rows(path, column, label_column):
    """(text, label) pairs of a Parquet, CSV or text file."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq  # optional: only for Parquet input

        table = pq.read_table(path)
        texts = table.column(column).to_pylist()
        labels = table.column(label_column).to_pylist() if label_column else [None] * len(texts)
        return list(zip(texts, labels))
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        agnews = {"title": 1, "description": 2, "label": 0}
        if rows and column in rows[0]:
            header, rows = rows[0], rows[1:]
            col = header.index(column)
            lab = header.index(label_column) if label_column else None
        else:
            col = agnews[column]
            lab = agnews[label_column] if label_column else None
        return [(r[col], int(r[lab]) if lab is not None else None) for r in rows]
    with open(path, encoding="utf-8") as f:
        return [(line.rstrip("\n"), None) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("data")
    p.add_argument("--column", default="title")
    p.add_argument("--label-column", default=None)
    args = p.parse_args()

    d = resolve(args.checkpoint)
    config = json.load(open(os.path.join(d, "config.json")))
    tok = json.load(open(os.path.join(d, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    lowercase = "Lowercase" in json.dumps(tok.get("normalizer"))
    unk, eos, bos = vocab["<unk>"], vocab["<eos>"], vocab["<bos>"]

    model = CharRnn(config["model"])
    model.load_state_dict(read_safetensors(os.path.join(d, "model.safetensors")))
    model.eval()

    label_values = config.get("data", {}).get("label_values") or []
    label_column = args.label_column or (config.get("data", {}).get("label_column") if model.num_labels else None)
    total, count = 0.0, 0
    with torch.no_grad():
        for text, label in read_rows(args.data, args.column, label_column):
            if lowercase:
                text = text.lower()
            ids = [vocab.get(c, unk) for c in text]
            inp = torch.tensor([[bos] + ids])
            target = torch.tensor(ids + [eos])
            labels = torch.tensor([label_values.index(label)]) if model.num_labels else None
            logits = model(inp, labels)[0]
            total += nn.functional.cross_entropy(logits.double(), target, reduction="sum").item()
            count += len(target)
    print(f"{total / count / math.log(2):.6f} bits per character over {count} characters")


if __name__ == "__main__":
    main()
