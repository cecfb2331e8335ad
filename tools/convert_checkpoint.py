"""Convert any published ConvNeXt checkpoint to an mmengine checkpoint of the backbone.

Entry point; the logic and its usage text are in convnext_cli/convert_checkpoint.py.
"""
import sys

from convnext_cli.convert_checkpoint import main

if __name__ == '__main__':
    sys.exit(main())
