#!/usr/bin/env python3
"""llama.cpp baseline for `clinrag bench llm`: same GGUF, same chat-templated prompt, greedy,
end-of-sequence ignored, prefill then token-by-token decode. Prints one JSON line on stdout.

Needs `pip install llama-cpp-python==0.3.36` (or its Python package plus a llama.cpp build of the
vendored sources, found through LLAMA_CPP_LIB_PATH). On this CPU batched prompt evaluation crashes
(see CRATES.md), so the prompt is evaluated with n_batch=1 (token by token)."""
import argparse
import json
import sys
import time

import jinja2
import numpy as np
from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    llm = Llama(model_path=a.model, n_ctx=2048, n_threads=a.threads, n_threads_batch=a.threads,
                n_batch=1, n_ubatch=1, verbose=True)
    tmpl = llm.metadata.get("tokenizer.chat_template")
    if tmpl:
        text = jinja2.Environment().from_string(tmpl).render(
            messages=[{"role": "user", "content": a.prompt}], add_generation_prompt=True)
    else:
        text = "<|im_start|>user\n" + a.prompt + "<|im_end|>\n<|im_start|>assistant\n"
    tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
    eos = llm.token_eos()
    n_vocab = llm.n_vocab()

    def last_logits():
        # Without logits_all, llama-cpp-python does not copy logits; read them from the context.
        logits = np.array(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)), copy=True)
        logits[eos] = -np.inf
        return logits

    runs = []
    for i in range(a.runs + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        tok = int(np.argmax(last_logits()))
        t1 = time.perf_counter()
        for _ in range(a.max_tokens - 1):
            llm.eval([tok])
            tok = int(np.argmax(last_logits()))
        t2 = time.perf_counter()
        if i > 0:
            runs.append({"prefill_tok_s": len(tokens) / (t1 - t0), "ttft_ms": (t1 - t0) * 1e3,
                         "decode_tok_s": (a.max_tokens - 1) / (t2 - t1)})
    med = lambda k: sorted(r[k] for r in runs)[len(runs) // 2]
    print(json.dumps({"runtime": "llama.cpp (llama-cpp-python)", "prompt_tokens": len(tokens),
                      "prefill_tok_s": med("prefill_tok_s"), "decode_tok_s": med("decode_tok_s"),
                      "ttft_ms": med("ttft_ms"), "n_batch": 1, "threads": a.threads, "runs": runs}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
