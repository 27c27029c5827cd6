# EQN Studio: the Streamlit app, served on port 8501, its workspace in the volume /data.
#
# CPU (default):
#   docker build -t eqn-studio .
#   docker run --rm -p 8501:8501 -v eqn-data:/data eqn-studio        # then open http://localhost:8501
#
# GoEmotions without internet: mount a folder holding train.tsv, dev.tsv and test.tsv and point the app at it
#   docker run ... -v /path/to/goemotions:/goemotions:ro -e EQN_GOEMOTIONS_DIR=/goemotions eqn-studio
#
# NVIDIA GPU (needs the NVIDIA container toolkit; run with --gpus all), either
#   a PyTorch runtime image, which already holds a CUDA torch (TORCH_SPEC=skip keeps it):
#     docker build -t eqn-studio:cuda --build-arg BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime \
#       --build-arg TORCH_SPEC=skip .
#   or a plain CUDA runtime image; Python is installed from apt below (Ubuntu 22.04: Python 3.10) and torch
#   comes from PyPI, whose Linux wheel is the CUDA build (empty TORCH_INDEX_URL = PyPI):
#     docker build -t eqn-studio:cuda --build-arg BASE_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 \
#       --build-arg TORCH_INDEX_URL= .
#   docker run --rm --gpus all -p 8501:8501 -v eqn-data:/data eqn-studio:cuda
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# torch: the CPU wheel from PyTorch's CPU index by default. The CPU index keeps the image small (torch is about
# 0.75 GB installed, against several GB more of CUDA libraries that the PyPI wheel pulls in on Linux).
# TORCH_SPEC=skip keeps the base image's torch (pytorch/pytorch images); an empty TORCH_INDEX_URL uses PyPI.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    TOKENIZERS_PARALLELISM=false \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HOME=/data/hf-cache \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    EQN_WORKSPACE=/data/eqn-workspace

# Base images without Python (nvidia/cuda): install it. python:3.11-slim and pytorch/pytorch already have it.
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           python3 python3-pip ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app

# Dependencies first (a layer that survives code changes): torch, then the rest of requirements.txt
# (its torch>=2.2 is then already satisfied, so pip keeps the wheel chosen here).
COPY requirements.txt ./
RUN if [ "$TORCH_SPEC" != "skip" ]; then \
        python3 -m pip install ${TORCH_INDEX_URL:+--index-url $TORCH_INDEX_URL} "$TORCH_SPEC"; \
    fi \
    && python3 -m pip install -r requirements.txt

# The app: eqn_core (installed editable, so `eqn` is on PATH), app.py, app_pages/, ui/, docs and benchmarks
COPY . .
RUN python3 -m pip install --no-deps -e . \
    && (id -u eqn >/dev/null 2>&1 || useradd --create-home --uid 1000 eqn 2>/dev/null || useradd --create-home eqn) \
    && mkdir -p /data/eqn-workspace /data/hf-cache \
    && chown -R eqn:eqn /data

USER eqn
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=8)" \
        || exit 1

CMD ["python3", "-m", "streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501", \
     "--server.headless", "true", "--browser.gatherUsageStats", "false"]
