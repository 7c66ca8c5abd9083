"""GRU encoder / autoregressive GRU decoder for SMILES token sequences, any latent family.

The encoder maps tokens to ``h`` of size ``n_params(d)`` (the latent family turns ``h`` into its
posterior parameters); the decoder is conditioned on a latent ``z`` of size ``ambient(d)`` (R^d
for a Gaussian, a unit vector of R^{d+1} for spherical families). The networks never look at the
family; the ELBO, posterior and IS log-likelihood come from ``VAE``.

Token layout (see ``datasets.smiles.TokenSplit``): ``[<bos>, t1 .. tn, <eos>, <pad> ..]``;
``<pad>`` only ever follows ``<eos>``, so lengths are read off the tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...special.precision import promote
from ..config import Config, ConfigError
from ..data.tokenizer import Tokenizer
from .vae import VAE, check_sizes


def sequence_log_likelihood(logits: Tensor, targets: Tensor, pad_id: int) -> Tensor:
    """Σ_t log p(targets_t | ...) over non-pad positions.

    logits (B, T, V), targets (B, T) int64 -> (B,).
    """
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad_id, reduction="none")
    return -nll.sum(-1)


def reverse_within_length(tokens: Tensor, lengths: Tensor) -> Tensor:
    """Reverse the first lengths[b] entries of each row, keep the padding in place: (B, T)."""
    pos = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
    src = lengths.to(tokens.device).view(-1, 1) - 1 - pos
    return tokens.gather(1, torch.where(src >= 0, src, pos))


class SmilesVAE(VAE):
    """Bidirectional GRU encoder + GRU decoder that sees z in its initial state and at every step.

    Args:
        vocab_size: number of token ids (special tokens included).
        family: key of ``LATENTS``; latent_dim: manifold dimension d.
        pad_id, bos_id, unk_id, eos_id: special token ids of the tokenizer.
        embed_dim, hidden_dim, num_layers: sizes shared by encoder and decoder.
        word_dropout: training-time probability of replacing a decoder input token by ``<unk>``
            (Bowman et al. 2016), which forces the decoder to use z instead of the prefix.
    """

    def __init__(
        self,
        vocab_size: int,
        family: str,
        latent_dim: int,
        *,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        unk_id: int = 3,
        embed_dim: int = 64,
        hidden_dim: int = 256,
        num_layers: int = 1,
        word_dropout: float = 0.0,
        head: str = "softplus",
        precision: str = "fp32",
        factors: int = 1,
        sphere_dim: int = 0,
    ) -> None:
        super().__init__(family, latent_dim, head=head, precision=precision, factors=factors,
                         sphere_dim=sphere_dim)
        n_params, z_dim = self.latent.n_params(latent_dim), self.latent.ambient(latent_dim)
        check_sizes(vocab_size=vocab_size, latent_dim=latent_dim, embed_dim=embed_dim,
                    hidden_dim=hidden_dim, num_layers=num_layers)
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout!r}")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = pad_id, bos_id, eos_id, unk_id
        self.z_dim, self.num_layers, self.hidden_dim = z_dim, num_layers, hidden_dim
        self.word_dropout = word_dropout
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        # two one-way GRUs on padded batches instead of one packed bidirectional GRU: same
        # function, but packed sequences cost ~1.7x more on CPU
        self.encoder_fwd = nn.GRU(embed_dim, hidden_dim, num_layers, batch_first=True)
        self.encoder_bwd = nn.GRU(embed_dim, hidden_dim, num_layers, batch_first=True)
        self.to_params = nn.Linear(2 * hidden_dim, n_params)
        self.z_to_state = nn.Linear(z_dim, num_layers * hidden_dim)
        self.decoder_rnn = nn.GRU(embed_dim + z_dim, hidden_dim, num_layers, batch_first=True)
        self.to_logits = nn.Linear(hidden_dim, vocab_size)

    def lengths(self, tokens: Tensor) -> Tensor:
        """Tokens per row, ``<bos>`` and ``<eos>`` included: (B, T) -> (B,)."""
        return (tokens != self.pad_id).sum(1)

    def encode(self, tokens: Tensor) -> Tensor:
        """tokens (B, T) int64 -> h (B, n_params); padding is never read.

        Bidirectional: the forward GRU reads each row left to right, the backward GRU reads it
        reversed within its length; each is taken at its last real step.
        """
        lengths = self.lengths(tokens)
        last = (lengths - 1).view(-1, 1, 1)
        with self.autocast(self.embed.weight):
            fwd, _ = self.encoder_fwd(self.embed(tokens))
            bwd, _ = self.encoder_bwd(self.embed(reverse_within_length(tokens, lengths)))
            h = [out.gather(1, last.expand(-1, 1, out.shape[-1])).squeeze(1)
                 for out in (fwd, bwd)]
            return self.to_params(torch.cat(h, dim=-1))

    def _initial_state(self, z: Tensor) -> Tensor:
        """z (B, z_dim) -> GRU state (num_layers, B, H)."""
        s = torch.tanh(self.z_to_state(z)).view(z.shape[0], self.num_layers, self.hidden_dim)
        return s.transpose(0, 1).contiguous()

    def _step_inputs(self, z: Tensor, tokens: Tensor) -> Tensor:
        """Embeddings of tokens (B, T) concatenated with z at every step -> (B, T, E + z_dim)."""
        zs = z.unsqueeze(1).expand(-1, tokens.shape[1], -1)
        return torch.cat([self.embed(tokens), zs.to(self.embed.weight.dtype)], dim=-1)

    def decode_logits(self, z: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: z (B, z_dim), tokens (B, T) -> logits (B, T-1, V) for tokens[:, 1:].

        ``logits[:, t]`` is the distribution of ``tokens[:, t+1]`` given z and ``tokens[:, :t+1]``.
        """
        inputs = tokens[:, :-1]
        if self.training and self.word_dropout > 0:
            drop = torch.rand(inputs.shape, device=inputs.device) < self.word_dropout
            drop &= (inputs != self.bos_id) & (inputs != self.pad_id)
            inputs = inputs.masked_fill(drop, self.unk_id)
        out, _ = self.decoder_rnn(self._step_inputs(z, inputs), self._initial_state(z))
        return self.to_logits(out)

    def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) per sequence (teacher forcing): x (B, T) tokens, z (m, B, D) -> (m, B)."""
        m, b = z.shape[:2]
        tokens = x.repeat(m, 1)
        with self.autocast(z):
            logits = promote(self.decode_logits(z.reshape(m * b, -1), tokens))
        return sequence_log_likelihood(logits, tokens[:, 1:], self.pad_id).view(m, b)

    @torch.no_grad()
    def generate(
        self,
        z: Tensor,
        max_len: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Autoregressive decoding: z (B, z_dim) -> ids (B, L), L ≤ max_len, without ``<bos>``.

        ``temperature = 0`` is greedy (argmax); otherwise tokens are drawn from
        softmax(logits / temperature). Each row ends with ``<eos>`` followed by ``<pad>``, or is
        cut at ``max_len`` tokens (then it has no ``<eos>``). Runs on z's device.
        """
        check_sizes(max_len=max_len)
        if not temperature >= 0.0:
            raise ValueError(f"temperature must be ≥ 0 (0 = greedy), got {temperature!r}")
        batch = z.shape[0]
        state = self._initial_state(z)
        token = torch.full((batch, 1), self.bos_id, dtype=torch.long, device=z.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=z.device)
        out: list[Tensor] = []
        for _ in range(max_len):
            h, state = self.decoder_rnn(self._step_inputs(z, token), state)
            logits = self.to_logits(h[:, 0])
            if temperature == 0.0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            nxt = nxt.masked_fill(finished, self.pad_id)
            out.append(nxt)
            finished |= nxt == self.eos_id
            if bool(finished.all()):  # one sync per step; saves the tail of the loop
                break
            token = nxt.unsqueeze(1)
        return torch.stack(out, dim=1)


def gru_vae(cfg: Config) -> SmilesVAE:
    """The ``smiles/gru`` model: ``hidden = [H] * layers``; the vocabulary comes from the config."""
    if not cfg.vocab:
        raise ConfigError("the smiles model needs a vocabulary (vocab is filled in from the data)")
    if len(set(cfg.hidden)) != 1:
        raise ConfigError(f"hidden must repeat one GRU width per layer, got {cfg.hidden}")
    tok = Tokenizer(cfg.vocab, cfg.representation)
    return SmilesVAE(len(tok), cfg.family, cfg.latent_dim, pad_id=tok.pad_id, bos_id=tok.bos_id,
                     eos_id=tok.eos_id, unk_id=tok.unk_id, embed_dim=cfg.embed_dim,
                     hidden_dim=cfg.hidden[0], num_layers=len(cfg.hidden),
                     word_dropout=cfg.word_dropout, head=cfg.head, precision=cfg.precision,
                     factors=cfg.factors, sphere_dim=cfg.sphere_dim)
