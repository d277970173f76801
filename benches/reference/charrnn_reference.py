"""The PyTorch a competent user would write for charrnn's task, measured the same way.

Same data (AG News titles from the CSV), same vocabulary (characters by frequency, ties by first
occurrence; 0 = <pad>, then the characters, then <eos>, <unk>, <bos>), same examples
(input = <bos> + ids, target = ids + <eos>), random padded minibatches, a masked loss, and
generation that carries the recurrent state. Prints JSON lines that `cargo xtask bench` reads.

    python3 charrnn_reference.py train --train train.csv --valid test.csv --cell lstm --hidden 128 \
        --layers 1 --input onehot --batch-size 8 --optimizer rmsprop --steps 200
    python3 charrnn_reference.py generate --train train.csv --samples 256 --length 300
"""

import argparse
import csv
import json
import math
import random
import resource
import sys
import time
from collections import Counter

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_titles(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [row[1] for row in csv.reader(f) if len(row) >= 2]


class Vocab:
    def __init__(self, texts):
        counts, first = Counter(), {}
        for text in texts:
            for ch in text:
                counts[ch] += 1
                first.setdefault(ch, len(first))
        chars = sorted(counts, key=lambda c: (-counts[c], first[c]))
        self.stoi = {c: i + 1 for i, c in enumerate(chars)}
        self.eos, self.unk, self.bos = len(chars) + 1, len(chars) + 2, len(chars) + 3
        self.size = len(chars) + 4
        self.itos = {i: c for c, i in self.stoi.items()}

    def encode(self, text):
        return [self.stoi.get(c, self.unk) for c in text]


def examples(vocab, texts):
    out = []
    for text in texts:
        ids = vocab.encode(text)
        out.append(([vocab.bos] + ids, ids + [vocab.eos]))
    return out


def pad_batch(batch, device):
    width = max(len(x) for x, _ in batch)
    inp = torch.zeros(len(batch), width, dtype=torch.long)
    tgt = torch.zeros(len(batch), width, dtype=torch.long)
    for row, (x, y) in enumerate(batch):
        inp[row, : len(x)] = torch.tensor(x)
        tgt[row, : len(y)] = torch.tensor(y)
    return inp.to(device, non_blocking=True), tgt.to(device, non_blocking=True)


class CharRNN(nn.Module):
    def __init__(self, vocab_size, cell, hidden, layers, one_hot, embed_dim, dropout):
        super().__init__()
        self.vocab_size, self.one_hot = vocab_size, one_hot
        in_dim = vocab_size if one_hot else embed_dim
        self.embed = None if one_hot else nn.Embedding(vocab_size, embed_dim)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn(in_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        x = F.one_hot(x, self.vocab_size).float() if self.one_hot else self.embed(x)
        out, state = self.rnn(x, state)
        return self.head(out), state


def masked_loss(logits, target):
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=0, reduction="sum")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@torch.no_grad()
def evaluate(model, data, device, batch_size=256):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(data), batch_size):
        inp, tgt = pad_batch(data[i : i + batch_size], device)
        logits, _ = model(inp)
        total += masked_loss(logits, tgt).item()
        count += int((tgt != 0).sum())
    model.train()
    return total / count / math.log(2)


def build(args, vocab, device):
    model = CharRNN(vocab.size, args.cell, args.hidden, args.layers, args.input == "onehot", args.embed_dim, args.dropout).to(device)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr or 2e-3, foreach=True)
    elif args.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=args.lr or 1e-3, foreach=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=args.lr or 1.0, foreach=True)
    return model, opt


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(args, device):
    """The forward pass's precision: plain float32, or bf16 autocast as the PyTorch AMP recipe
    writes it (no loss scaling: charrnn's --precision bf16 scales, so it does more work)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")


def cmd_train(args):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    device = torch.device(args.device)
    titles = read_titles(args.train)
    vocab = Vocab(titles)
    train = examples(vocab, titles)
    valid = examples(vocab, read_titles(args.valid)) if args.valid else []
    model, opt = build(args, vocab, device)
    step, chars, epoch = 0, 0, 0
    losses = []
    started = time.perf_counter()
    done = False
    while not done:
        order = list(range(len(train)))
        random.shuffle(order)
        for b in range(0, len(order), args.batch_size):
            batch = [train[i] for i in order[b : b + args.batch_size]]
            inp, tgt = pad_batch(batch, device)
            with autocast(args, device):
                logits, _ = model(inp)
            n = sum(len(y) for _, y in batch)
            loss = masked_loss(logits.float(), tgt) / n
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip, foreach=True)
            opt.step()
            losses.append(loss.detach())
            step += 1
            chars += n
            if (args.steps and step >= args.steps) or (args.seconds and time.perf_counter() - started >= args.seconds):
                done = True
                break
        epoch += 1
        if args.epochs and epoch >= args.epochs:
            done = True
    sync(device)
    elapsed = time.perf_counter() - started
    train_bpc = float(torch.stack(losses[-50:]).mean()) / math.log(2)
    result = {
        "event": "train",
        "steps": step,
        "epochs": epoch,
        "real_chars": chars,
        "elapsed_secs": elapsed,
        "chars_per_sec": chars / elapsed,
        "train_bpc": train_bpc,
        "peak_rss_mib": peak_rss_mib(),
    }
    if valid:
        result["val_bpc"] = evaluate(model, valid, device)
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result), flush=True)


def cmd_bare(args):
    """fwd + bwd + optimizer steps on random ids of one fixed shape, every position real: what
    the recurrent kernels alone allow, with no data path, padding or bookkeeping."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    vocab = Vocab(read_titles(args.train))
    model, opt = build(args, vocab, device)
    inp = torch.randint(1, vocab.size, (args.batch_size, args.length), device=device)
    tgt = torch.randint(1, vocab.size, (args.batch_size, args.length), device=device)
    n = args.batch_size * args.length
    for i in range(args.steps + args.warmup):
        if i == args.warmup:
            sync(device)
            started = time.perf_counter()
        with autocast(args, device):
            logits, _ = model(inp)
        loss = masked_loss(logits.float(), tgt) / n
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    elapsed = time.perf_counter() - started
    print(json.dumps({"event": "bare", "steps": args.steps, "batch_size": args.batch_size, "length": args.length,
                      "chars_per_sec": n * args.steps / elapsed, "ms_per_step": elapsed * 1000 / args.steps}), flush=True)


@torch.no_grad()
def cmd_generate(args):
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    vocab = Vocab(read_titles(args.train))
    model, _ = build(args, vocab, device)
    model.eval()
    banned = torch.tensor([0, vocab.unk, vocab.bos], device=device)

    def next_ids(logits):
        logits = logits[:, -1, :] / args.temperature
        logits[:, banned] = float("-inf")
        return torch.multinomial(F.softmax(logits, dim=-1), 1)

    prompt = torch.tensor([[vocab.bos] + vocab.encode("Today ")], device=device)

    # Two characters before any clock (the prompt's pass and one step): first-call set-up
    # (large on CUDA) is not generation, and charrnn generate --stats leaves it out the same way.
    logits, state = model(prompt)
    model(next_ids(logits), state)
    sync(device)

    # Batched, carried state.
    x = prompt.repeat(args.samples, 1)
    sync(device)
    t0 = time.perf_counter()
    logits, state = model(x)
    for _ in range(args.length):
        ids = next_ids(logits)
        logits, state = model(ids, state)
    sync(device)
    batched = args.samples * args.length / (time.perf_counter() - t0)

    # One sample, carried state: latency per character.
    t0 = time.perf_counter()
    logits, state = model(prompt)
    for _ in range(args.length):
        ids = next_ids(logits)
        logits, state = model(ids, state)
    sync(device)
    single_ms = (time.perf_counter() - t0) * 1000 / args.length

    # The notebook's way: re-run the whole prefix for every character.
    length = min(args.length, args.notebook_length)
    seq = prompt
    t0 = time.perf_counter()
    for _ in range(length):
        logits, _ = model(seq)
        seq = torch.cat([seq, next_ids(logits)], dim=1)
    sync(device)
    notebook = length / (time.perf_counter() - t0)

    result = {
        "event": "generate",
        "samples": args.samples,
        "length": args.length,
        "batched_chars_per_sec": batched,
        "single_ms_per_char": single_ms,
        "notebook_chars_per_sec": notebook,
        "peak_rss_mib": peak_rss_mib(),
    }
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("train", "generate", "bare"):
        s = sub.add_parser(name)
        s.add_argument("--train", required=True, help="AG News train.csv (titles are column 2)")
        s.add_argument("--device", default="cpu")
        s.add_argument("--threads", type=int, default=0)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
        s.add_argument("--input", default="embedding", choices=["embedding", "onehot"])
        s.add_argument("--embed-dim", type=int, default=64)
        s.add_argument("--hidden", type=int, default=128)
        s.add_argument("--layers", type=int, default=1)
        s.add_argument("--dropout", type=float, default=0.0)
        s.add_argument("--optimizer", default="adam", choices=["adam", "rmsprop", "sgd"])
        s.add_argument("--lr", type=float, default=None)
    t = sub.choices["train"]
    t.add_argument("--valid", default=None)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--steps", type=int, default=0)
    t.add_argument("--seconds", type=float, default=0)
    t.add_argument("--epochs", type=int, default=0)
    t.add_argument("--clip", type=float, default=0)
    g = sub.choices["generate"]
    g.add_argument("--samples", type=int, default=256)
    g.add_argument("--length", type=int, default=300)
    g.add_argument("--notebook-length", type=int, default=100)
    g.add_argument("--temperature", type=float, default=1.0)
    b = sub.choices["bare"]
    b.add_argument("--batch-size", type=int, default=256)
    b.add_argument("--length", type=int, default=45, help="characters per row (AG News titles average 44)")
    b.add_argument("--steps", type=int, default=50)
    b.add_argument("--warmup", type=int, default=5)
    for s in (t, b):
        s.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    {"train": cmd_train, "generate": cmd_generate, "bare": cmd_bare}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
