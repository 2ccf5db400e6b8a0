"""Probe, not library code: the cpu budget's SVM_rbf on another draw of a regenerated set.

``reproduce_table`` always reads seed 0 of a regenerated set; this fits the same grid (C {1, 10,
100} x gamma {1, 2} x scale, grown up to 3 log steps past an edge pick, the pick retrained on
train + valid, tested on the 50000 test rows) on the set drawn with another seed, to see how far
two draws of one generator differ. Run from the repository root:

    python notes/probes/svm_on_seed.py NAME SEED VERSION [MNIST_DIR]   (e.g. convex 1 6; ~3 min)

(MNIST_DIR: the MNIST files, for the MNIST variants; ../shared/data/mnist by default.)
"""

import sys
import time

from sdae.data import regenerate as regen
from sdae.reproduce import svm


def main():
  name, seed, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
  mnist_dir = sys.argv[4] if len(sys.argv) > 4 else "../shared/data/mnist"
  t = time.time()
  splits = regen.regenerate(name, seed, version=version, data_dir=mnist_dir)
  print(f"regenerated {name} v{version} seed {seed} in {time.time() - t:.0f} s", flush=True)
  out = svm.select_and_test(splits, svm.SVMGrid((1.0, 10.0, 100.0), (1.0, 2.0), grow=3))
  print(f"SVM_rbf {name} v{version} seed {seed}: chose {out['chosen']}, valid "
        f"{out['valid_error_pct']}%, test {out['test_error_pct']}% +- {out['test_ci95_pct']}; "
        f"{len(out['grid'])} trials; {time.time() - t:.0f} s")


if __name__ == "__main__":
  main()
