"""Evaluate a checkpoint with a detection or segmentation config (mmdet's/mmseg's CLI).

Entry point; the logic and its usage text are in convnext_cli/test.py.
"""
import sys

from convnext_cli.test import main

if __name__ == '__main__':
    sys.exit(main())
