import os
import sys
from pathlib import Path

import torch

# Tests run on shared CPUs: keep torch from oversubscribing them. At most MAX_THREADS threads in this process
# unless OMP_NUM_THREADS says otherwise (subprocesses the tests start set their own), and no tokenizer threads.
MAX_THREADS = 4
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(MAX_THREADS, torch.get_num_threads()))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))
