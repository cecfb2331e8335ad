"""Train a detector or segmentor from a config (mmdet's and mmseg's CLI).

Entry point; the logic and its usage text are in convnext_cli/train.py.
"""
import sys

from convnext_cli.train import main

if __name__ == '__main__':
    sys.exit(main())
