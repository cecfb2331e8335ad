"""Parameters and FLOPs (multiply-adds, as papers count them) with mmengine's counter.

Entry point; the logic and its usage text are in convnext_cli/get_flops.py.
"""
import sys

from convnext_cli.get_flops import main

if __name__ == '__main__':
    sys.exit(main())
