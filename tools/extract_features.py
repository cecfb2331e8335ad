"""Extract ConvNeXt feature pyramids (strides 4, 8, 16, 32) from images.

Entry point; the logic and its usage text are in convnext_cli/extract_features.py.
"""
import sys

from convnext_cli.extract_features import main

if __name__ == '__main__':
    sys.exit(main())
