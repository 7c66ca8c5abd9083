"""Transformer encoder / non-autoregressive transformer decoder for SMILES, any latent family.

The spCauchy paper's SMILES network (the authors' ``src/model.py``, transformer encoder and
decoder). Every molecule is a fixed-length row of ``seq_len`` tokens ``[<bos>, t1 .. tn, <eos>,
<pad> ..]`` (75 for molecules of at most 73 characters):

* encoder: token embedding (``padding_idx`` = pad) + fixed sinusoidal positions, dropout, a
  post-norm ReLU ``nn.TransformerEncoder`` that ignores pad keys, the whole sequence flattened
  (seq_len · d_model) → ``hidden`` units (no activation, as in the authors' code) → the head
  ``hidden → n_params(d)`` that the latent family turns into its posterior;
* decoder: z → seq_len · d_model, the same kind of fixed positions, dropout, decoder layers
  without a causal mask (see ``ZeroMemoryDecoderLayer``), d_model → vocabulary logits of all
  ``seq_len`` positions at once. Position t is scored against token t, ``<bos>`` included.

Decoding is per position: argmax (greedy) or a draw from softmax(logits / temperature).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...special.precision import promote
from ..config import Config, ConfigError
from ..data.tokenizer import Tokenizer
from .smiles_gru import sequence_log_likelihood
from .vae import VAE, check_sizes

# Rows of z decoded at once by ``log_lik``: bounds the memory of importance sampling (k · B rows)
LOGLIK_CHUNK = 2048


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """Fixed positional encodings (Vaswani et al. 2017): sin at even, cos at odd features,
    wavelengths 2π · 10000^(2i/dim). Shape (length, dim)."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class ZeroMemoryDecoderLayer(nn.Module):
    """``nn.TransformerDecoderLayer`` (post-norm, ReLU, batch-first, no masks) whose memory is an
    all-zero sequence of ``memory_len`` vectors, computed without the memory.

    With zero memory every key is the key bias and every value the value bias b_v, so the
    cross-attention weights are uniform and its output is out_proj(b_v) at every position.
    The block keeps exactly the parameters that reach the output (``value_bias`` = b_v, the
    ``out_proj`` of the cross-attention; the query/key/value weights and query/key biases get
    no gradient there) and the same add & norm. In training, attention dropout p on the uniform
    weights multiplies head h's b_v by K/(L(1-p)), K ~ Binomial(L, 1-p), per query; that scale
    is drawn here, so the layer equals the real one in distribution as well (in eval mode
    exactly; ``tests/test_smiles_transformer.py`` checks both against nn.TransformerDecoderLayer).

    x (B, T, d_model) → (B, T, d_model).
    """

    def __init__(self, d_model: int, n_heads: int, dim_ff: int, dropout: float,
                 memory_len: int) -> None:
        super().__init__()
        self.n_heads, self.memory_len, self.attn_dropout = n_heads, memory_len, dropout
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.value_bias = nn.Parameter(torch.zeros(d_model))  # MultiheadAttention: zero init
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.zeros_(self.out_proj.bias)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_ff), nn.Linear(dim_ff, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (
            nn.Dropout(dropout) for _ in range(4))

    def cross_attention(self, x: Tensor) -> Tensor:
        """What attention to the zero memory returns: (B, T, d_model)."""
        if not (self.training and self.attn_dropout > 0):
            return self.out_proj(self.value_bias).expand_as(x)
        keep, length = 1.0 - self.attn_dropout, float(self.memory_len)
        count = torch.full((*x.shape[:2], self.n_heads), length, device=x.device)
        scale = torch.binomial(count, torch.full_like(count, keep)) / (length * keep)
        heads = self.value_bias.view(self.n_heads, -1) * scale.unsqueeze(-1)  # (B, T, H, d/H)
        return self.out_proj(heads.flatten(2).to(x.dtype))

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, need_weights=False)[0]))
        x = self.norm2(x + self.dropout2(self.cross_attention(x)))
        return self.norm3(x + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(x))))))


class TransformerSmilesVAE(VAE):
    """The spCauchy paper's SMILES VAE (module docstring).

    Args:
        vocab_size: number of token ids (special tokens included).
        family: key of ``LATENTS``; latent_dim: manifold dimension d.
        seq_len: tokens per row, ``<bos>`` and ``<eos>`` included (the authors' max_seq_len).
        pad_id, bos_id, eos_id: special token ids of the tokenizer.
        d_model, n_heads, n_layers: width, heads and depth of encoder and decoder (the
            feed-forward width is 4 · d_model, as in the authors' code).
        hidden: width of the layer between the flattened encoder output and the head.
        dropout: of the embedded inputs, attention weights and every sublayer.
    """

    def __init__(
        self,
        vocab_size: int,
        family: str,
        latent_dim: int,
        *,
        seq_len: int,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        d_model: int = 256,
        n_heads: int = 4,
        n_layers: int = 4,
        hidden: int = 128,
        dropout: float = 0.1,
        head: str = "softplus",
        precision: str = "fp32",
        factors: int = 1,
        sphere_dim: int = 0,
    ) -> None:
        super().__init__(family, latent_dim, head=head, precision=precision, factors=factors,
                         sphere_dim=sphere_dim)
        check_sizes(vocab_size=vocab_size, seq_len=seq_len, d_model=d_model, n_heads=n_heads,
                    n_layers=n_layers, hidden=hidden)
        if d_model % n_heads or d_model % 2:
            raise ValueError(f"d_model ({d_model}) must be even and divisible by n_heads "
                             f"({n_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.seq_len, self.d_model = seq_len, d_model
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        n_params, z_dim = self.latent.n_params(latent_dim), self.latent.ambient(latent_dim)
        # a fixed function of the position, not a weight: kept out of the checkpoints
        self.register_buffer("positions", sinusoidal_positions(seq_len, d_model),
                             persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout,
                                           batch_first=True)
        # one code path in training and evaluation (the nested-tensor shortcut only runs in
        # inference and would change what padded positions output; see ``encode``)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.to_hidden = nn.Linear(seq_len * d_model, hidden)
        self.to_params = nn.Linear(hidden, n_params)
        self.latent.init_head(self.to_params, latent_dim)
        self.z_to_seq = nn.Linear(z_dim, seq_len * d_model)
        # deep copies of one initialized layer, as nn.TransformerEncoder/Decoder build theirs
        block = ZeroMemoryDecoderLayer(d_model, n_heads, 4 * d_model, dropout, seq_len)
        self.decoder = nn.ModuleList(copy.deepcopy(block) for _ in range(n_layers))
        self.to_logits = nn.Linear(d_model, vocab_size)

    def pad(self, tokens: Tensor) -> Tensor:
        """Right-pad token rows (B, T ≤ seq_len) to (B, seq_len)."""
        if tokens.shape[1] > self.seq_len:
            raise ValueError(f"molecules of {tokens.shape[1]} tokens do not fit the model's "
                             f"{self.seq_len} positions")
        return F.pad(tokens, (0, self.seq_len - tokens.shape[1]), value=self.pad_id)

    def encode(self, tokens: Tensor) -> Tensor:
        """tokens (B, T ≤ seq_len) int64 -> h (B, n_params).

        Pad positions are masked as keys, and their outputs are set to zero before the flatten:
        what PyTorch's inference path (nested tensors) returns for them. In the authors' code
        they are zero in evaluation but not in training; here both compute the same function.
        """
        tokens = self.pad(tokens)
        pad = tokens == self.pad_id
        with self.autocast(self.embed.weight):
            x = self.dropout(self.embed(tokens) + self.positions)
            h = self.encoder(x, src_key_padding_mask=pad).masked_fill(pad.unsqueeze(-1), 0.0)
            return self.to_params(self.to_hidden(h.flatten(1)))

    def decode_logits(self, z: Tensor) -> Tensor:
        """z (N, z_dim) -> logits (N, seq_len, V) of every position at once (no causal mask)."""
        x = self.z_to_seq(z).view(-1, self.seq_len, self.d_model) + self.positions
        x = self.dropout(x)
        for layer in self.decoder:
            x = layer(x)
        return self.to_logits(x)

    def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) = Σ over non-pad positions (``<bos>`` included) of log softmax:
        x (B, T ≤ seq_len) tokens, z (m, B, D) -> (m, B)."""
        m, b = z.shape[:2]
        targets = x.repeat(m, 1)
        out = []
        for rows, tgt in zip(z.reshape(m * b, -1).split(LOGLIK_CHUNK),
                             targets.split(LOGLIK_CHUNK), strict=True):
            with self.autocast(z):
                logits = promote(self.decode_logits(rows))[:, : x.shape[1]]
            out.append(sequence_log_likelihood(logits, tgt, self.pad_id))
        return torch.cat(out).view(m, b)

    @torch.no_grad()
    def generate(
        self,
        z: Tensor,
        max_len: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Parallel decoding: z (B, z_dim) -> ids (B, L), L = min(max_len, seq_len - 1), without
        the ``<bos>`` position.

        ``temperature = 0``: argmax per position; otherwise each position is drawn independently
        from softmax(logits / temperature). Everything after a row's first ``<eos>`` becomes
        ``<pad>`` (the interface of ``SmilesVAE.generate``). Runs on z's device.
        """
        check_sizes(max_len=max_len)
        if not temperature >= 0.0:
            raise ValueError(f"temperature must be ≥ 0 (0 = greedy), got {temperature!r}")
        with self.autocast(z):
            logits = promote(self.decode_logits(z))[:, 1: 1 + max_len]
        if temperature == 0.0:
            ids = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1).flatten(0, 1)
            ids = torch.multinomial(probs, 1, generator=generator).view(logits.shape[:2])
        eos = ids == self.eos_id
        after_eos = (eos.cumsum(1) - eos.long()) > 0
        return ids.masked_fill(after_eos, self.pad_id)


def transformer_vae(cfg: Config) -> TransformerSmilesVAE:
    """The ``smiles/transformer`` model: ``embed_dim`` wide, ``layers`` deep, ``heads`` heads,
    ``hidden = [units before the head]``, rows of ``max_len + 2`` tokens."""
    if not cfg.vocab:
        raise ConfigError("the smiles model needs a vocabulary (vocab is filled in from the data)")
    if len(cfg.hidden) != 1:
        raise ConfigError(f"model transformer needs hidden = [units before the head], "
                          f"got {cfg.hidden}")
    if cfg.embed_dim % cfg.heads or cfg.embed_dim % 2:
        raise ConfigError(f"embed_dim ({cfg.embed_dim}) must be even and divisible by heads "
                          f"({cfg.heads})")
    tok = Tokenizer(cfg.vocab, cfg.representation)
    return TransformerSmilesVAE(len(tok), cfg.family, cfg.latent_dim, seq_len=cfg.max_len + 2,
                                pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id,
                                d_model=cfg.embed_dim, n_heads=cfg.heads, n_layers=cfg.layers,
                                hidden=cfg.hidden[0], dropout=cfg.dropout, head=cfg.head,
                                precision=cfg.precision, factors=cfg.factors,
                                sphere_dim=cfg.sphere_dim)
