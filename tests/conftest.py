import os
import sys
from pathlib import Path

# Tests run on shared CPUs: keep torch from oversubscribing them.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))
