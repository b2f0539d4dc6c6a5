"""Batched generation without padded prefill: each prompt is read alone, then all decode together.

On a CPU, a RAG prompt (~1,000 tokens) costs far more to read (prefill) than its short answer
costs to write, and a padded batch makes prefill worse: every prompt is padded to the longest,
and the padding mask pushes attention off its fast causal path. Measured on 16 sample RAG
prompts (2 cores, bf16): a padded ``generate`` batch took 38.2 s, one ``generate`` per prompt
32.6 s, and this scheme 17.5 s — ``benchmarks/generation.py`` prints the current figures.

``prefilled_cache(model, rows, max_new_tokens)`` runs each prompt but its last token through
the model alone (batch of one: no padding, causal fast path), copies the key/value states into
one left-padded ``StaticCache``, and returns the padded ``input_ids``/``attention_mask`` to hand
to ``model.generate`` with that cache. ``generate`` then feeds only the last column (every
prompt's last token) and decodes the whole batch in one pass per token, with all its usual
logits processors, stopping criteria and sampling. Position ids come from the attention mask,
so each row continues at its own length. Written here because transformers' own continuous
batching (``generate_batch``) targets GPUs: on this CPU it took 124 s for the same 16 prompts.
"""

from __future__ import annotations


def supports_prefilled_cache(model) -> bool:
    """Whether every layer is plain full attention (a sliding-window or recurrent layer keeps a
    different cache shape: those models take the padded path)."""
    config = model.config
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
    return kinds == {"full_attention"} and not getattr(config, "sliding_window", None) \
        and not config.is_encoder_decoder


def prefilled_cache(model, rows: list[list[int]], max_new_tokens: int, pad_token_id: int):
    """``(input_ids, attention_mask, cache)`` for ``model.generate``: ``rows`` (token ids, one
    list per prompt) left-padded, and a cache holding every prompt but its last token."""
    import torch
    from transformers import DynamicCache, StaticCache

    device = model.device
    width = max(len(row) for row in rows)
    alone = []
    with torch.inference_mode():
        for row in rows:
            cache = DynamicCache(config=model.config)
            if len(row) > 1:
                model(input_ids=torch.tensor([row[:-1]], device=device), past_key_values=cache, use_cache=True,
                      logits_to_keep=1)
            alone.append(cache)
        batch_cache = StaticCache(config=model.config, max_cache_len=width - 1 + max_new_tokens)
        for layer in range(model.config.num_hidden_layers if width > 1 else 0):  # one-token prompts: nothing cached
            keys, values = _left_padded_layer(alone, layer, width - 1)
            batch_cache.update(keys, values, layer)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row):] = torch.tensor(row)
        attention_mask[i, width - len(row):] = 1
    return input_ids.to(device), attention_mask.to(device), batch_cache


def _left_padded_layer(caches, layer: int, length: int):
    """One layer's keys and values of every prompt, right-aligned in ``length`` positions (heads,
    head size, dtype and device as the model cached them; a one-token prompt cached nothing: all
    padding)."""
    cached = [cache.layers[layer] if cache.layers and cache.layers[layer].keys is not None
              and cache.layers[layer].keys.numel() else None for cache in caches]
    template = next(c for c in cached if c is not None)
    keys, values = (t.new_zeros((len(caches), t.shape[1], length, t.shape[3])) for t in (template.keys, template.values))
    for i, c in enumerate(cached):
        if c is not None:
            keys[i, :, length - c.keys.shape[2]:] = c.keys[0]
            values[i, :, length - c.values.shape[2]:] = c.values[0]
    return keys, values
