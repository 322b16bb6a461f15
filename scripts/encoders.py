"""The two token-input models priortune's transformer work is measured on, defined with
torch.nn (no download, no transformers package): a BERT-base encoder and a GPT-2-small-
style decoder stack, written as the Hugging Face implementations compute them, so that
their ONNX exports have the same operators.

- bert_base: word, position and token-type embeddings, LayerNorm, 12 layers of
  self-attention (additive mask from the int64 attention_mask input:
  (1 - mask) * float32's lowest) and a GELU (erf) feed-forward of 3072, post-LayerNorm;
  outputs the last hidden state [1, 128, 768] and the pooled output (tanh of a dense
  layer of the first token) [1, 768]. Inputs: input_ids, token_type_ids, attention_mask
  (int64, [1, 128]).
- gpt2_small: token and position embeddings, 12 pre-LayerNorm blocks of causal
  self-attention (the lower-triangular bool buffer, torch.where, then the additive
  padding mask) and a GELU (tanh form) feed-forward of 3072, a final LayerNorm; outputs
  the hidden states [1, 128, 768]. Inputs: input_ids, attention_mask (int64, [1, 128]).
- bert_tiny, gpt2_tiny: the same code with 2 layers, d 64, 4 heads, a vocabulary of
  1000 and sequence 16, for the test suite.

Used by scripts/export_models.py (export and reference outputs) and
scripts/torch_model_bench.py (timing)."""
import math

import torch
from torch import nn

CONFIGS = {
    "bert_base": dict(kind="bert", vocab=30522, d=768, layers=12, heads=12, ffn=3072, seq=128, positions=512),
    "gpt2_small": dict(kind="gpt2", vocab=50257, d=768, layers=12, heads=12, ffn=3072, seq=128, positions=1024),
    "bert_tiny": dict(kind="bert", vocab=1000, d=64, layers=2, heads=4, ffn=256, seq=16, positions=64),
    "gpt2_tiny": dict(kind="gpt2", vocab=1000, d=64, layers=2, heads=4, ffn=256, seq=16, positions=64),
}


def split_heads(x, heads):
    b, s, d = x.shape
    return x.view(b, s, heads, d // heads).permute(0, 2, 1, 3)


def merge_heads(x):
    b, h, s, dh = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, s, h * dh)


def additive_mask(mask, dtype):
    """[B, S] of 1 (attend) and 0 (padding) -> [B, 1, 1, S] of 0 and dtype's lowest."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class BertLayer(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1 = nn.LayerNorm(d, eps=1e-12)
        self.up, self.down = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.act = nn.GELU()
        self.ln2 = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, mask):
        q, k, v = (split_heads(f(x), self.heads) for f in (self.q, self.k, self.v))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        probs = torch.softmax(scores + mask, dim=-1)
        x = self.ln1(x + self.o(merge_heads(torch.matmul(probs, v))))
        return self.ln2(x + self.down(self.act(self.up(x))))


class Bert(nn.Module):
    def __init__(self, vocab, d, layers, heads, ffn, seq, positions, types=2):
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, d), nn.Embedding(positions, d), nn.Embedding(types, d)
        self.register_buffer("position_ids", torch.arange(positions)[None])
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(d, heads, ffn) for _ in range(layers))
        self.pool = nn.Linear(d, d)

    def forward(self, input_ids, token_type_ids, attention_mask):
        s = input_ids.shape[1]
        x = self.word(input_ids) + self.pos(self.position_ids[:, :s]) + self.token_type(token_type_ids)
        x = self.ln(x)
        mask = additive_mask(attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pool(x[:, 0]))


class Gpt2Block(nn.Module):
    def __init__(self, d, heads, ffn, positions):
        super().__init__()
        self.heads, self.d = heads, d
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.act = nn.GELU(approximate="tanh")
        self.register_buffer("causal", torch.tril(torch.ones(positions, positions, dtype=torch.bool))[None, None])

    def forward(self, x, mask):
        q, k, v = (split_heads(t, self.heads) for t in self.c_attn(self.ln1(x)).split(self.d, dim=2))
        s = x.shape[1]
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        w = torch.where(self.causal[:, :, :s, :s], w, torch.tensor(torch.finfo(w.dtype).min))
        probs = torch.softmax(w + mask, dim=-1)
        x = x + self.c_proj(merge_heads(torch.matmul(probs, v)))
        return x + self.down(self.act(self.up(self.ln2(x))))


class Gpt2(nn.Module):
    def __init__(self, vocab, d, layers, heads, ffn, seq, positions):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.register_buffer("position_ids", torch.arange(positions)[None])
        self.blocks = nn.ModuleList(Gpt2Block(d, heads, ffn, positions) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(self.position_ids[:, :s])
        mask = additive_mask(attention_mask, x.dtype)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)


def build(name):
    c = dict(CONFIGS[name])
    kind = c.pop("kind")
    return Bert(**c) if kind == "bert" else Gpt2(**c)


def inputs(name, batch, gen):
    """The named int64 inputs: random token ids (and token types), and a mask that pads
    the last quarter of each sequence, so that the mask changes the result."""
    c = CONFIGS[name]
    s = c["seq"]
    ids = torch.randint(0, c["vocab"], (batch, s), generator=gen)
    mask = torch.ones(batch, s, dtype=torch.int64)
    mask[:, s - s // 4:] = 0
    if c["kind"] == "bert":
        types = torch.zeros(batch, s, dtype=torch.int64)
        types[:, s // 2:] = 1
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    return {"input_ids": ids, "attention_mask": mask}


def output_names(name):
    return ["last_hidden_state", "pooler_output"] if CONFIGS[name]["kind"] == "bert" else ["hidden_states"]
